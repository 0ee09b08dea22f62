"""The ``mqlscore`` command line.

Commands stay thin: they parse options, build typed configuration and call the
stage modules. Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:
    import pandas as pd

    from mqlscore.contract import ValidationReport

app = typer.Typer(
    name="mqlscore",
    help="Open, explainable MQL scoring for digital-health and telehealth vendors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Open, explainable MQL scoring for digital-health and telehealth vendors."""


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
    mc_sims: int = typer.Option(50, "--mc-sims", min=10, help="Monte Carlo paths per open lead for the oracle."),
) -> None:
    """Write a realistic digital-health CRM export with a known truth."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    config = GeneratorConfig(n_leads=leads, seed=seed, output_format=fmt, with_errors=with_errors, mc_sims=mc_sims)
    result = generate_export(config, out=out, truth_out=truth_out, progress=True)
    console.print(result.summary())




def _print_report(report: ValidationReport, *, summary: bool = True) -> None:
    """Print a validation report: the summary wraps, problems stay one line each."""
    if summary:
        console.print(report.render(problems=False))
    for line in report.render_problems():
        console.print(line, soft_wrap=True, highlight=False)


def _print_plain(text: str, style: str = "") -> None:
    """One unwrapped line, never read as rich markup (paths and messages may hold brackets)."""
    from rich.text import Text

    console.print(Text(text, style=style), soft_wrap=True, highlight=False)


def _print_verdict(report: ValidationReport) -> None:
    n_set_aside = report.n_rejects
    if n_set_aside:
        _print_plain(f"\nUsable: {n_set_aside:,} row(s) set aside; the rest meets the data contract.", "yellow")
    else:
        _print_plain("\nValid: the folder meets the data contract.", "green")


def _as_of_option(value: Optional[str]) -> Optional[pd.Timestamp]:
    """``--as-of`` parsed (ISO-8601, UTC) and within the years the contract takes; exit 2 otherwise."""
    from mqlscore.contract import parse_as_of
    from mqlscore.contract.schema import EARLIEST, LATEST, OUT_OF_RANGE

    try:
        when = parse_as_of(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from None
    if when is not None and not EARLIEST <= when < LATEST:
        raise typer.BadParameter(f"as-of time {value.strip()!r} is {OUT_OF_RANGE}", param_hint="--as-of")
    return when


def _check_outputs(paths: list[Path], option: str, *, inputs: list[Path] | tuple = (),
                   input_folders: list[Path] | tuple = (), folder: Optional[Path] = None) -> None:
    """Refuse, before any work, an output that would overwrite an input (exit 2) or
    cannot be written (exit 1), in one line."""
    from mqlscore.contract import OutputError, OutputIsInput, check_output

    try:
        if folder is not None:
            check_output(folder, option=option, folder=True)
        for path in paths:
            check_output(path, inputs=inputs, input_folders=input_folders, option=option)
    except OutputIsInput as exc:
        _print_plain(str(exc), style="bold red")
        raise typer.Exit(2) from None
    except OutputError as exc:
        _print_plain(str(exc), style="bold red")
        raise typer.Exit(1) from None


def _write_failed(path: Path, exc: OSError) -> NoReturn:
    """Say in one line why a file could not be written (the previous one, if any, is intact) and exit 1."""
    _print_plain(f"Cannot write {path}: {exc.strerror or exc}; nothing was written there.", style="bold red")
    raise typer.Exit(1) from None


def _fail(report: ValidationReport) -> NoReturn:
    """Print why the input was refused and exit 1 (no traceback for bad input)."""
    _print_report(report, summary=bool(report.rows_kept))
    n_errors = len(report.errors)
    _print_plain(f"\nNot valid: {n_errors} error(s); nothing was written. See docs/contract.md.", "bold red")
    raise typer.Exit(1)


@app.command()
def validate(
    folder: Path = typer.Argument(..., help="Folder holding leads, activities and outcomes (CSV or Parquet)."),
    as_of: Optional[str] = typer.Option(
        None, "--as-of", help="As-of time, ISO-8601 (default: the latest timestamp in the data)."
    ),
    lenient: bool = typer.Option(
        False, "--lenient", help="Set bad rows aside into a rejects file instead of failing."
    ),
    rejects: Optional[Path] = typer.Option(
        None, "--rejects", help="Rejects file written with --lenient (default: FOLDER/rejects.csv)."
    ),
) -> None:
    """Check a folder against the data contract and summarise it (exit 1 on any error)."""
    from mqlscore.contract import ContractError, load_folder, table_files, write_rejects

    if rejects is not None and not lenient:
        raise typer.BadParameter("--rejects only applies with --lenient", param_hint="--rejects")
    as_of_time = _as_of_option(as_of)
    path = rejects or folder / "rejects.csv"
    if lenient:
        _check_outputs([path], "--rejects", inputs=table_files(folder), input_folders=[folder])
    try:
        with console.status(f"Reading and validating {folder} ..."):
            dataset = load_folder(folder, as_of=as_of_time, lenient=lenient)
    except ContractError as exc:
        _fail(exc.report)
    _print_report(dataset.report)
    if lenient:
        try:
            write_rejects(dataset.rejects, path)
        except OSError as exc:
            _write_failed(path, exc)
        _print_plain(f"\n{len(dataset.rejects):,} row(s) set aside, written to {path}")
    _print_verdict(dataset.report)


@app.command("import")
def import_command(
    mapping: str = typer.Option(
        ..., "--mapping", help="Mapping YAML file, or a shipped mapping: olist, olist_raw, salesforce."
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write leads, activities and outcomes into."),
    source: Optional[Path] = typer.Option(
        None, "--source", help="Folder holding the raw files (default: the mapping file's folder)."
    ),
    lenient: bool = typer.Option(
        False, "--lenient", help="Set bad rows aside into OUT/rejects.csv instead of failing."
    ),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    as_of: Optional[str] = typer.Option(
        None, "--as-of", help="As-of time, ISO-8601 (default: the latest timestamp in the data)."
    ),
) -> None:
    """Turn raw CRM exports into the data contract with a YAML mapping; write only if valid."""
    from mqlscore.contract import TABLES, ContractError, table_format_clashes, validate_tables, write_tables
    from mqlscore.importer import MappingError, import_tables, input_files

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("must be csv or parquet", param_hint="--format")
    as_of_time = _as_of_option(as_of)
    try:
        raw_files = input_files(mapping, source)
    except MappingError as exc:
        _print_plain(f"Mapping problem: {exc}", style="red")
        raise typer.Exit(1) from None
    outputs = [out / f"{table}.{fmt}" for table in TABLES] + ([out / "rejects.csv"] if lenient else [])
    _check_outputs(outputs, "--out", inputs=raw_files, folder=out)
    clashes = table_format_clashes(out, fmt)
    if clashes:
        other = "parquet" if fmt == "csv" else "csv"
        _print_plain(f"Cannot write {out}: it already holds {', '.join(p.name for p in clashes)}; remove "
                     f"{'it' if len(clashes) == 1 else 'them'} or pass --format {other}.", style="bold red")
        raise typer.Exit(1)
    try:
        with console.status("Reading the raw tables and mapping them onto the contract ..."):
            tables = import_tables(mapping, source)
            dataset = validate_tables(tables, as_of=as_of_time, lenient=lenient)
    except MappingError as exc:
        _print_plain(f"Mapping problem: {exc}", style="red")
        raise typer.Exit(1) from None
    except ContractError as exc:
        _fail(exc.report)
    _print_report(dataset.report)
    try:
        written = write_tables(dataset, out, fmt=fmt, rejects=dataset.rejects if lenient else None)
    except OSError as exc:  # FileExistsError included: the other format appeared meanwhile
        _write_failed(out, exc)
    counts = ", ".join(f"{len(getattr(dataset, name)):,} {name}" for name in ("leads", "activities", "outcomes"))
    _print_plain(f"\nImported: {counts} written to {out} ({fmt}).", style="green")
    if lenient:
        _print_plain(f"{len(dataset.rejects):,} row(s) set aside, written to {written['rejects']}")


@app.command()
def demo(
    out: Path = typer.Option(Path("data/demo"), "--out", help="Folder for the demo export."),
    leads: int = typer.Option(20_000, "--leads", min=100, help="Number of demo leads."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the demo data."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file."),
) -> None:
    """The main job: generate demo data, validate, train, register, and score the open leads."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export
    from mqlscore.synthetic.truth import compare_with_oracle
    settings = _load_settings(config)
    _print_plain(f"1/4 Generating {leads:,} demo leads into {out}", style="bold")
    result = generate_export(GeneratorConfig(n_leads=leads, seed=seed), out=out, progress=True)
    console.print(result.summary())
    _print_plain(f"2/4 Validating {out} against the data contract", style="bold")
    dataset = _load_dataset(out, None)
    _print_report(dataset.report)
    _print_verdict(dataset.report)
    _print_plain("3/4 Training the scorecard and LightGBM, next to the hand-set baseline", style="bold")
    trained, registration = _train_register_report(dataset, settings, Path("models"))
    with console.status("Comparing with the oracle ..."):
        table = compare_with_oracle(trained, dataset, result.truth_out)
    _print_oracle(table)
    _print_plain("4/4 Scoring the leads open now", style="bold")
    scores = out.with_name(out.name + "-scores.csv")
    _write_scores(dataset, trained.scoring_model, scores, f"the new model (v{registration.version})")


def _print_oracle(table) -> None:  # noqa: ANN001
    from rich.table import Table

    view = Table(title=f"Leads open at the export time ({table.attrs['open_leads']:,}; "
                       f"{table.attrs['positives']:,} became SQL within the horizon) against the truth")
    for col in ("model", "ROC-AUC", "x oracle", "PR-AUC", "x oracle"):
        view.add_column(col, justify="left" if col == "model" else "right")
    for name, row in table.iterrows():
        view.add_row(str(name), f"{row.roc_auc:.3f}", f"{row.roc_auc_vs_oracle:.3f}", f"{row.pr_auc:.3f}",
                     f"{row.pr_auc_vs_oracle:.3f}")
    console.print(view)


def _load_settings(config: Optional[Path], horizon_days: Optional[int] = None):  # noqa: ANN202
    from pydantic import ValidationError

    from mqlscore.config import load_config

    try:
        settings = load_config(config)
    except (OSError, ValueError, ValidationError) as exc:
        _print_plain(f"Config problem in {config}: {exc}", style="red")
        raise typer.Exit(2) from None
    if horizon_days is not None:
        snapshots = settings.snapshots.model_copy(update={"horizon_days": horizon_days})
        settings = settings.model_copy(update={"snapshots": snapshots})
    return settings


def _load_dataset(data: Path, as_of: Optional[str], lenient: bool = False):  # noqa: ANN202
    from mqlscore.contract import ContractError, load_folder

    try:
        with console.status(f"Reading and validating {data} ..."):
            return load_folder(data, as_of=_as_of_option(as_of), lenient=lenient)
    except ContractError as exc:
        _fail(exc.report)


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="Folder holding leads, activities and outcomes."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Train as of this time (default: the folder's)."),
    horizon_days: Optional[int] = typer.Option(None, "--horizon-days", min=1,
                                               help="Predict an SQL within this many days (default 90)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file."),
    promote: str = typer.Option("if-better", "--promote", help="if-better, always or never."),
    report_dir: Path = typer.Option(Path("models"), "--report-dir", help="Where the report and model card go."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not log to MLflow or register."),
    force: bool = typer.Option(False, "--force", help="Train even on too little data."),
    allow_column: Optional[list[str]] = typer.Option(
        None, "--allow-column", metavar="NAME", help="Keep this extra lead column although the leak guard says it looks like it "
        "knows the outcome (repeatable; adds to features.allow_columns; its evidence is still reported)."),
) -> None:
    """Learn fit and intent weights from conversions; compare, register, promote."""
    if promote not in ("if-better", "always", "never"):
        raise typer.BadParameter("must be if-better, always or never", param_hint="--promote")
    settings = _load_settings(config, horizon_days)
    if allow_column:
        features = settings.features.model_copy(
            update={"allow_columns": settings.features.allow_columns + tuple(allow_column)})
        settings = settings.model_copy(update={"features": features})
    dataset = _load_dataset(data, as_of)
    _train_register_report(dataset, settings, report_dir, force=force, register=not no_register, promote=promote)


def _train_register_report(dataset, settings, report_dir: Path, *, force: bool = False, register: bool = True,  # noqa: ANN001, ANN202
                           promote: str = "if-better"):
    """Train, register (unless told not to), write the report and attach it to the
    MLflow run, then print the summary; returns the training result and the registration.

    First cleans up after killed runs: their MLflow runs left RUNNING are marked
    FAILED, their unfinished report folders removed. The report is written beside
    the current one and switched in only when complete (``mqlscore.reporting.folder``)."""
    import time

    from mqlscore.registry import fail_dead_runs, log_report
    from mqlscore.reporting import clean_leftovers, stage_report, write_report
    from mqlscore.leakguard import LeakingColumns
    from mqlscore.training import NotEnoughData, register as register_model, train as run_training

    started = time.perf_counter()
    if register:
        dead = fail_dead_runs(settings.train.experiment)
        if dead:
            _print_plain(f"Marked {len(dead)} MLflow run(s) left RUNNING by a killed training as FAILED: "
                         f"{', '.join(dead)}.")
    cleaned, busy = clean_leftovers(report_dir)
    if cleaned or busy:
        _print_plain(f"Removed {len(cleaned)} unfinished report folder(s) of killed trainings from {report_dir}/"
                     + (f"; left {len(busy)} that a running training is writing." if busy else "."))
    try:
        with console.status("Training ...") as status:
            result = run_training(dataset, settings, force=force, say=lambda m: status.update(f"Training: {m} ..."))
    except (NotEnoughData, LeakingColumns) as exc:
        _print_plain(str(exc), style="bold red")
        raise typer.Exit(1) from None
    for line in result.warnings():  # the leak guard's warnings and a base-rate shift
        _print_plain(line, style="yellow")
    registration = None
    if register:
        with console.status("Logging to MLflow and registering the model ..."):
            registration = register_model(result, dataset, settings, promote=promote)
    label = f"v{registration.version}" if registration is not None else "unregistered"
    with stage_report(report_dir, label) as staged:
        with console.status("Writing the evaluation report, explanations and model card ..."):
            write_report(result, registration, staged.folder)
        if registration is not None:
            log_report(registration.run_id, staged.folder)
        staged.publish()
    _print_training_summary(result, registration, report_dir, time.perf_counter() - started)
    return result, registration


def _cell(column: str, value: object) -> str:
    if isinstance(value, float) and value != value:
        return "-"
    if isinstance(value, float):
        if "share" in column or "rate" in column or column.startswith("mean_"):
            return f"{value:.1%}"
        return f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _print_training_summary(result, registration=None, report_dir: Optional[Path] = None,  # noqa: ANN001
                            seconds: Optional[float] = None) -> None:
    """The validation figures, threshold and tiers of a training run, and where its
    model (``registration``) and report went."""
    from rich.table import Table

    table = Table(title="Validation (most recent fully labelled period)")
    for col in ("model", "ROC-AUC", "PR-AUC", "log loss", "Brier"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, metrics in result.metrics().items():
        mark = " (champion)" if name == result.champion else ""
        table.add_row(name + mark, f"{metrics['roc_auc']:.3f}", f"{metrics['pr_auc']:.3f}",
                      f"{metrics['log_loss']:.4f}", f"{metrics['brier']:.4f}")
    console.print(table)
    t = result.threshold
    _print_plain(f"MQL threshold ({t.detail}): probability {t.probability:.3f} = score {t.score:.0f}; "
                 f"about {t.mqls_per_week:.0f} MQLs/week, {t.sql_rate:.0%} of them SQL within the horizon, "
                 f"{t.share_of_sqls:.0%} of all SQLs captured.")
    tiers = result.candidates[result.champion].evaluation.tiers
    tier_table = Table(title=f"Tiers of the champion ({result.champion})")
    for col in tiers.columns:
        tier_table.add_column(str(col), justify="right")
    for row in tiers.itertuples(index=False):
        tier_table.add_row(*[_cell(col, v) for col, v in zip(tiers.columns, row)])
    console.print(tier_table)
    if registration is not None:
        name = result.scoring_model.metadata["model_name"]
        _print_plain(f"Registered as models:/{name}/{registration.version}; {registration.decision}.")
    took = seconds if seconds is not None else result.seconds.get("total", 0)
    if report_dir is not None:
        _print_plain(f"Report and model card in {report_dir}/ ({took:.0f} s).")


@app.command()
def score(
    data: Path = typer.Option(..., "--data", help="Folder holding leads and activities (outcomes optional)."),
    out: Path = typer.Option(..., "--out", help="Output file: .csv or .parquet."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Score as of this time (default: the folder's)."),
    model: Optional[str] = typer.Option(None, "--model", help="MLflow model URI (default models:/NAME@champion)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (for the model name)."),
) -> None:
    """Score every lead open at the as-of time, with reasons."""
    from mqlscore.batch import SCORE_FILE_SUFFIXES
    from mqlscore.contract import table_files
    from mqlscore.contract.schema import champion_uri
    from mqlscore.registry import load_scoring_model

    if out.suffix.lower() not in SCORE_FILE_SUFFIXES:
        raise typer.BadParameter("must end in .csv or .parquet", param_hint="--out")
    _check_outputs([out], "--out", inputs=table_files(data), input_folders=[data])
    settings = _load_settings(config)
    uri = model or champion_uri(settings.train.model_name)
    dataset = _load_dataset(data, as_of)
    try:
        with console.status(f"Loading {uri} ..."):
            scoring_model = load_scoring_model(uri)
    except LookupError as exc:
        _print_plain(f"{exc}\nTrain one first: mqlscore train --data DIR", style="bold red")
        raise typer.Exit(1) from None
    _write_scores(dataset, scoring_model, out, uri)


def _write_scores(dataset, scoring_model, out: Path, source: str) -> None:  # noqa: ANN001
    """Score every lead open at the dataset's as-of time and write the score file."""
    from mqlscore.batch import score_open_leads, tier_counts, write_score_file

    with console.status("Scoring the open leads ..."):
        scored = score_open_leads(scoring_model, dataset)
    try:
        write_score_file(scored, out)
    except OSError as exc:
        _write_failed(out, exc)
    counts = tier_counts(scored)
    _print_plain(f"Scored {len(scored):,} open leads as of {dataset.as_of} with {source}: "
                 f"{int(scored['is_mql'].sum()):,} MQLs; tiers " + ", ".join(f"{t} {n:,}" for t, n in counts.items())
                 + f". Written to {out}.")


@app.command()
def build(
    model: Optional[str] = typer.Option(None, "--model", help="MLflow model URI (default models:/NAME@champion)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (model name, service limits)."),
) -> None:
    """Package the champion (or --model) as a bento that serves without MLflow; builds offline."""
    from mqlscore.contract.schema import champion_uri
    from mqlscore.registry import tracking_uri
    from mqlscore.serving.errors import StartupError
    from mqlscore.serving.packaging import build_bento

    settings = _load_settings(config)
    uri = model or champion_uri(settings.train.model_name)
    try:
        with console.status(f"Building the scoring service from {uri} ...") as status:
            result = build_bento(uri, settings, say=lambda m: status.update(f"Building: {m} ..."))
    except LookupError as exc:
        _print_plain(f"{exc}\nNo such model in the registry at {tracking_uri()}: train one first "
                     "(mqlscore train --data DIR), or pass --model URI.", style="bold red")
        raise typer.Exit(1) from None
    except (StartupError, FileNotFoundError) as exc:
        _print_plain(f"Cannot build the service: {exc}", style="bold red")
        raise typer.Exit(1) from None
    _print_plain(f"Built bento {result.bento_tag} with {result.model_name} v{result.model_version} "
                 f"(BentoML model {result.bento_model_tag}) in {result.seconds:.0f} s.", style="green")
    _print_plain("Serve it with: mqlscore serve   (needs MQLSCORE_API_KEY, or --dev on this machine only)")


@app.command()
def serve(
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (default: this machine only)."),
    dev: bool = typer.Option(False, "--dev", help="Local development: API-key authentication OFF."),
    bento: Optional[str] = typer.Option(None, "--bento", help="Bento tag (default: the latest built)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes (default 2)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (overrides service limits)."),
    scores: Optional[Path] = typer.Option(None, "--scores", help="A scored file (from 'mqlscore score') that the "
                                          "lead card at /ui lists at start."),
) -> None:
    """Run the scoring service (POST /score, GET /model, the lead card at /ui) until interrupted."""
    import os
    import sys

    from mqlscore.serving.auth import API_KEY_FILE_ENV
    from mqlscore.serving.errors import StartupError
    from mqlscore.serving.leadcard import UI_SCORES_ENV, ScoresFileError, load_scores_file
    from mqlscore.serving.packaging import how_to_call, serve_command, serve_environment
    from mqlscore.serving.startup import dev_banner

    settings = _load_settings(config) if config is not None else None
    scores_file = scores or (Path(os.environ[UI_SCORES_ENV]) if os.environ.get(UI_SCORES_ENV, "").strip() else None)
    try:
        command = serve_command(bento, host, port, dev, settings)
        if scores_file is not None:  # a bad file stops the start, not the first page view
            scores_file = scores_file.expanduser().resolve()
            try:
                n_scored = load_scores_file(scores_file).total
            except OSError as exc:
                raise StartupError(f"cannot read the scored file {scores_file}: {exc.strerror}") from None
            except ScoresFileError as exc:
                raise StartupError(str(exc)) from None
    except StartupError as exc:
        _print_plain(f"Cannot start the service: {exc}", style="bold red")
        raise typer.Exit(1) from None
    if dev:
        _print_plain(dev_banner(), style="bold red")
    _print_plain(f"Serving {command[4]} on http://{host}:{port} (Ctrl-C stops it). Call it with:", style="bold")
    _print_plain(how_to_call(host, port, dev))
    if scores_file is not None:
        _print_plain(f"The lead card lists {scores_file} ({n_scored:,} leads).")
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the server: Ctrl-C and signals reach `bentoml serve` directly.
    env = serve_environment(dev, workers, settings)
    if env.get(API_KEY_FILE_ENV):  # the server runs from the bento's folder: make the path absolute
        env[API_KEY_FILE_ENV] = str(Path(env[API_KEY_FILE_ENV]).expanduser().resolve())
    if scores_file is not None:  # likewise the scored file
        env[UI_SCORES_ENV] = str(scores_file)
    os.execve(command[0], command, env)


def _days_interval(low: float, high: float) -> str:
    """A half-life interval in whole days; the estimator's bounds (1 and 1,000 days) read as open ends."""
    if low != low or high != high:  # NaN: the data gave no interval at all
        return "-"
    return f"{'<1' if low < 1 else f'{low:,.0f}'}-{'1,000+' if high > 1000 else f'{high:,.0f}'}"


@app.command("half-lives")
def half_lives(
    data: Path = typer.Option(..., "--data", help="Folder holding leads, activities and outcomes."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Learn from what happened before this time "
                                        "(default: the folder's)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (the feature settings)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the table to this CSV file."),
) -> None:
    """Learn how fast each signal fades: a half-life per signal family with its 95 % interval, next to the
    25 %-per-quarter rule of thumb."""
    import warnings

    from rich.table import Table

    from mqlscore.features import FeatureBuilder
    from mqlscore.features.decay import RULE_OF_THUMB_LOSS, estimate_half_lives
    from mqlscore.features.registry import family_words

    if out is not None and out.suffix.lower() != ".csv":
        raise typer.BadParameter("must end in .csv", param_hint="--out")
    settings = _load_settings(config)
    dataset = _load_dataset(data, as_of)
    t = dataset.as_of
    n_sql = int(dataset.outcomes["sql_at"].notna().sum())  # the contract keeps only outcomes up to the as-of time
    if n_sql == 0:
        _print_plain(f"No lead became an SQL before {t}: half-lives are learned from conversions "
                     "(outcomes.sql_at), so there is nothing to learn from.", style="bold red")
        raise typer.Exit(1)
    if n_sql < settings.train.min_conversions:
        _print_plain(f"Only {n_sql:,} SQL{'s' if n_sql > 1 else ''} before {t}: expect wide intervals and few "
                     "identified signals.",
                     style="yellow")
    with console.status(f"Learning a half-life per signal family from {n_sql:,} SQLs (about a minute for "
                        "20,000 leads) ..."), warnings.catch_warnings():
        # Too short a history leaves the validation or fitting period empty; numpy then warns about
        # empty means, and the summary below says "not measured" instead.
        warnings.simplefilter("ignore", RuntimeWarning)
        # Fitted on what existed at the as-of time, as `train` does: no later lead or activity.
        known = dataset.leads[dataset.leads["created_at"] <= t]
        before = dataset.activities[dataset.activities["occurred_at"] < t]
        builder = FeatureBuilder(settings.features).fit(known, before)
        report = estimate_half_lives(builder, dataset.leads, dataset.activities, dataset.outcomes, t)
    rows = report.table()
    if rows.empty:
        _print_plain(f"No signal family has enough activities before {t} to learn how fast it fades.",
                     style="bold red")
        raise typer.Exit(1)
    view = Table(title=f"Learned half-lives as of {t} (identified signals first, then shortest first)")
    view.add_column("signal", no_wrap=True)
    view.add_column("family", no_wrap=True)
    for col in ("half-life (days)", "95 % interval", "lost per quarter", "weight", "events", "identified"):
        view.add_column(col, justify="right")
    for r in rows.itertuples(index=False):
        view.add_row(family_words(r.family)[1], r.family, f"{r.half_life_days:,.0f}",
                     _days_interval(r.low_days, r.high_days), f"{r.lost_per_quarter:.0%}", f"{r.weight:+.2f}",
                     f"{r.events:,}", "yes" if r.identified else "no", style=None if r.identified else "dim")
    console.print(view)
    n_identified = int(rows["identified"].sum())
    _print_plain(f"{n_identified} of {len(rows)} signal families identified (95 % interval within about 2x each way "
                 "and a weight clearly away from zero); the data cannot say how fast the others fade.")
    _print_plain(f"Rule of thumb: {RULE_OF_THUMB_LOSS:.0%} of the weight lost per quarter, a "
                 f"{report.rule_of_thumb_half_life:.0f}-day half-life for every signal.")
    if report.rows_fit and report.validation_log_loss == report.validation_log_loss:
        verdict = "better" if report.validation_log_loss < report.rule_of_thumb_log_loss else "no better"
        _print_plain(f"Validation log loss of the SQL hazard (last 90 days): learned half-lives "
                     f"{report.validation_log_loss:.4f}, rule of thumb {report.rule_of_thumb_log_loss:.4f} "
                     f"({verdict}).")
    else:
        _print_plain("Validation log loss not measured: the last 90 days hold no SQL, or nothing older was left "
                     "to fit on.", style="yellow")
    _print_plain("; ".join(report.notes) + ".")
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            rows.to_csv(out, index=False)
        except OSError as exc:
            _print_plain(f"Cannot write {out}: {exc.strerror or exc}", style="red")
            raise typer.Exit(1) from None
        _print_plain(f"Written to {out}.")


def main() -> None:  # pragma: no cover - console entry point
    app()
