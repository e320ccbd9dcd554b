"""``bazaar styles``: the API styles' contracts, exported — the GraphQL SDL, the WSDL, the
gRPC proto and the check that its generated code is current."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The GraphQL, gRPC and SOAP contracts (REST's is /openapi.json).",
                  no_args_is_help=True)


@app.command("sdl")
def sdl(out: Path | None = typer.Option(None, "--out", help="Write to this file.")) -> None:
    """The GraphQL schema in SDL (what GET /graphql/schema.graphql serves)."""
    from bazaar.api.graph import sdl as make_sdl

    text = make_sdl()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}")


@app.command("wsdl")
def wsdl(url: str = typer.Option("http://127.0.0.1:8000/soap", "--url",
                                 help="The SOAP endpoint the ports point at."),
         out: Path | None = typer.Option(None, "--out", help="Write to this file.")) -> None:
    """The WSDL 1.1 (what GET /soap?wsdl serves, for ports at --url)."""
    from bazaar.api.soap import wsdl_document

    document = wsdl_document(url)
    if out is None:
        typer.echo(document.decode(), nl=False)
    else:
        out.write_bytes(document)
        typer.echo(f"wrote {out}")


@app.command("codegen")
def codegen(proto: Path = typer.Option(Path("proto"), "--proto",
                                       help="The folder holding bazaar/shop/v1/shop.proto."),
            check: bool = typer.Option(False, "--check",
                                       help="Fail (exit 1) if the committed code is stale.")
            ) -> None:
    """Regenerate the gRPC code from the proto (grpcio-tools, a dev dependency)."""
    from bazaar.api.rpc import codegen as gen

    if not (proto / gen.PROTO).is_file():
        typer.echo(f"error: {proto / gen.PROTO} not found (run from the repository root or "
                   "pass --proto)", err=True)
        raise typer.Exit(2)
    try:
        import grpc_tools  # noqa: F401
    except ImportError as exc:
        typer.echo("error: grpcio-tools is not installed (pip install -e '.[dev]')", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(gen.main([f"--proto={proto}", *(["--check"] if check else [])]))
