"""The ``mqlscore`` command line.

Commands stay thin: they parse options, build typed configuration and call the
stage modules. Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="mqlscore",
    help="Open, explainable MQL scoring for digital-health and telehealth vendors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the CRM export into."),
    leads: int = typer.Option(20_000, "--leads", min=10, help="Number of leads."),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives the same data."),
    truth_out: Optional[Path] = typer.Option(
        None, "--truth-out", help="Folder for the known truth (default: OUT with '-truth' appended)."
    ),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    with_errors: bool = typer.Option(
        False, "--with-errors", help="Add a few invalid rows of each kind the contract names."
    ),
    mc_sims: int = typer.Option(200, "--mc-sims", min=10, help="Monte Carlo paths per open lead for the oracle."),
) -> None:
    """Write a realistic digital-health CRM export with a known truth."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    config = GeneratorConfig(n_leads=leads, seed=seed, output_format=fmt, with_errors=with_errors, mc_sims=mc_sims)
    result = generate_export(config, out=out, truth_out=truth_out, progress=True)
    console.print(result.summary())


def main() -> None:  # pragma: no cover - console entry point
    app()
