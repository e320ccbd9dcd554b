"""``bazaar styles``: the SDL and WSDL it prints are what the server serves; ``codegen
--check`` passes on the committed code and says what is wrong when the proto is missing."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from typer.testing import CliRunner

from bazaar.api.graph import sdl
from bazaar.cli import app

REPO = Path(__file__).resolve().parents[3]


def test_sdl_and_wsdl() -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["styles", "sdl"])
    assert out.exit_code == 0 and out.stdout == sdl()
    out = runner.invoke(app, ["styles", "wsdl", "--url", "https://shop.example/soap"])
    assert out.exit_code == 0
    root = etree.fromstring(out.stdout.encode())
    locations = {a.get("location") for a in root.iter() if a.get("location")}
    assert locations == {"https://shop.example/soap"}


def test_codegen_check(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["styles", "codegen", "--check", "--proto", str(REPO / "proto")])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["styles", "codegen", "--check", "--proto", str(tmp_path)])
    assert out.exit_code == 2 and "not found" in out.output
