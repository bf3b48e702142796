"""``pipepulse objectives …``: objectives outside the API."""

from __future__ import annotations

from typing import Annotated

import typer

from pipepulse.cli_support import fail
from pipepulse.objectives.prometheus_rules import FORMATS

app = typer.Typer(help="Objectives and error budgets (SPEC §7.6).", no_args_is_help=True)


@app.command("rules")
def rules(
    format_: Annotated[
        str, typer.Option("--format", help=f"Rule format: {', '.join(FORMATS)}.")
    ] = "prometheus",
) -> None:
    """Print recording and alerting rules computing the burn rates from /metrics.

    The rules hold for every objective (the series carry the objective's labels), so no database
    is read: save the output as a rule file, e.g. `pipepulse objectives rules > objectives.yml`.
    """
    render = FORMATS.get(format_)
    if render is None:
        raise fail(f"unknown rule format {format_!r}; use one of: {', '.join(FORMATS)}", code=2)
    typer.echo(render(), nl=False)
