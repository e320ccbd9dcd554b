"""``bazaar``: the one command line. Thin: each group lives in ``bazaar.commands.<name>``.

Command modules import their heavy dependencies inside the commands, so ``bazaar --help``
stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="bazaar",
    help="Bazaar: system-design explainers made real, as one running shop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# (module under bazaar.commands, group name or "" to add its commands at top level)
# One line per command group; keep the list sorted by group name.
_GROUPS: list[tuple[str, str]] = [
    ("auth", "auth"),
    ("broker", "broker"),
    ("flow", "flow"),
    ("functions", "functions"),
    ("lab", "lab"),
    ("shop", "shop"),
    ("up", ""),
]


def _register() -> None:
    for module_name, group in _GROUPS:
        module = importlib.import_module(f"bazaar.commands.{module_name}")
        if group:
            app.add_typer(module.app, name=group)
        else:
            for command in module.app.registered_commands:
                app.registered_commands.append(command)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
