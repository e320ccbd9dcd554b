"""``bazaar``: the one command line. Thin: each group lives in ``bazaar.commands.<name>``.

Command modules import their heavy dependencies inside the commands, so ``bazaar --help``
stays fast.
"""

from __future__ import annotations

import importlib

import typer

from bazaar import __version__

app = typer.Typer(
    name="bazaar",
    help="Bazaar: system-design explainers made real, as one running shop.",
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
    add_completion=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bazaar {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", callback=_version,
                                       is_eager=True, help="Print the version and exit.")
          ) -> None:
    """Bazaar: system-design explainers made real, as one running shop."""

# (module under bazaar.commands, group name or "" to add its commands at top level)
# One line per command group; keep the list sorted by group name.
_GROUPS: list[tuple[str, str]] = [
    ("auth", "auth"),
    ("broker", "broker"),
    ("cluster", "cluster"),
    ("config", "config"),
    ("flow", "flow"),
    ("ftl", "ftl"),
    ("functions", "functions"),
    ("lab", "lab"),
    ("load", ""),
    ("shop", "shop"),
    ("styles", "styles"),
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
    app(prog_name="bazaar")


if __name__ == "__main__":
    main()
