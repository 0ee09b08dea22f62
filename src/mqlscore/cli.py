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
    change: Optional[list[str]] = typer.Option(
        None, "--change", metavar="DATE:KIND:NAME=VALUE",
        help="Change the world from DATE (00:00 UTC) on; repeatable. KIND is channel_volume (NAME a lead source, "
        "VALUE the factor on its new leads), signal_weight (NAME a signal such as webinar_attended or "
        "page_pricing, VALUE the factor on its weight; 0: it stops predicting) or org_fit (NAME an org type, "
        "VALUE added to its log-hazard of SQL). E.g. 2026-06-01:signal_weight:webinar_attended=0. The history "
        "before the first change is the same as without changes; the truth folder records the changes in "
        "changes.json. See docs/synthetic-data.md."),
    also_export_at: Optional[list[str]] = typer.Option(
        None, "--also-export-at", metavar="DATE",
        help="Also write the same CRM as exported at this earlier date (YYYY-MM-DD, 00:00 UTC): leads, activities "
        "and outcomes before it, in OUT/earlier/DATE, with its own truth (oracle of the leads open then) in "
        "TRUTH/earlier/DATE; repeatable."),
) -> None:
    """Write a realistic digital-health CRM export with a known truth."""
    from datetime import date

    from pydantic import ValidationError

    from mqlscore.config import GeneratorConfig, parse_change
    from mqlscore.synthetic import generate_export
    from mqlscore.synthetic.drift import check_changes

    try:
        changes = tuple(parse_change(text) for text in change or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--change") from None
    dates = []
    for text in also_export_at or ():
        try:
            dates.append(date.fromisoformat(text.strip()))
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint="--also-export-at") from None
    try:
        config = GeneratorConfig(n_leads=leads, seed=seed, output_format=fmt, with_errors=with_errors,
                                 mc_sims=mc_sims, changes=changes, also_export_at=tuple(dates))
    except ValidationError as exc:
        problem = exc.errors()[0]
        message = problem["msg"].removeprefix("Value error, ")
        field = str(problem["loc"][0]) if problem["loc"] else message.split(" ", 1)[0]  # the dates' check names it
        where = {"output_format": "--format", "also_export_at": "--also-export-at"}.get(field, "--change")
        raise typer.BadParameter(message, param_hint=where) from None
    try:
        check_changes(config)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--change") from None
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
    no_refit: bool = typer.Option(False, "--no-refit", help="Register the champion as chosen, fitted on the fitting "
                                  "period only, instead of refitting it on every labelled snapshot."),
    allow_column: Optional[list[str]] = typer.Option(
        None, "--allow-column", metavar="NAME", help="Keep this extra lead column although the leak guard says it looks like it "
        "knows the outcome (repeatable; adds to features.allow_columns; its evidence is still reported)."),
    engine: str = typer.Option("pandas", "--engine", help="pandas (default: in memory) or spark: a Parquet export "
                               "(a local folder or any path Spark reads) validated and turned into the training set "
                               "on Spark, fitted on the driver on at most train.max_fit_rows snapshots."),
    master: Optional[str] = typer.Option(None, "--master", help="Spark master with --engine spark (default "
                                         "local[2]; e.g. local[*], spark://HOST:7077, yarn)."),
    work_dir: str = typer.Option("spark-work", "--work-dir", help="With --engine spark: where the training set is "
                                 "written as Parquet (a folder per run; any path Spark writes)."),
) -> None:
    """Learn fit and intent weights from conversions; compare, register, promote."""
    if promote not in ("if-better", "always", "never"):
        raise typer.BadParameter("must be if-better, always or never", param_hint="--promote")
    _check_engine(engine, master)
    settings = _load_settings(config, horizon_days)
    if no_refit:
        settings = settings.model_copy(update={"train": settings.train.model_copy(update={"refit": False})})
    if allow_column:
        features = settings.features.model_copy(
            update={"allow_columns": settings.features.allow_columns + tuple(allow_column)})
        settings = settings.model_copy(update={"features": features})
    if engine == "spark":
        _train_on_spark(data, as_of, settings, report_dir, master, work_dir, force=force, register=not no_register,
                        promote=promote)
        return
    dataset = _load_dataset(data, as_of)
    _train_register_report(dataset, settings, report_dir, force=force, register=not no_register, promote=promote)


ENGINES = ("pandas", "spark")


def _check_engine(engine: str, master: Optional[str]) -> None:
    """``--engine`` is pandas or spark; ``--master`` goes with spark only (exit 2 otherwise)."""
    if engine not in ENGINES:
        raise typer.BadParameter("must be pandas or spark", param_hint="--engine")
    if master is not None and engine != "spark":
        raise typer.BadParameter("a Spark master goes with --engine spark", param_hint="--master")


def _location(path: Path) -> str:
    """A path for Spark: a URL given on the command line (``s3a://bucket/x``) keeps its
    ``//``, which ``Path`` folds into one; a local path is made absolute."""
    import re

    text = str(path)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/[^/]", text) and not Path(text).exists():
        return text.replace(":/", "://", 1)
    return str(path.resolve())


def _start_spark(master: Optional[str]):  # noqa: ANN202
    """(A SparkSession on ``master`` (default local[2]), whether this command started it
    and must stop it), or why not and exit 1. A session already running in this process
    (a notebook's, a test's) is used as it is and left running."""
    from mqlscore.spark.session import DEFAULT_MASTER, SparkUnavailable, active_session, spark_session

    running = active_session()
    if running is not None:
        return running, False
    master = master or DEFAULT_MASTER
    try:
        with console.status(f"Starting Spark ({master}) ..."):
            return spark_session(master), True
    except SparkUnavailable as exc:
        _print_plain(f"Spark cannot start: {exc}. Use --engine pandas, or install a Java runtime.", style="bold red")
        raise typer.Exit(1) from None


def _read_on_spark(spark, data: Path, as_of: Optional[str]):  # noqa: ANN001, ANN202
    """The export at ``data`` read and validated on Spark (the merged report on failure, exit 1)."""
    from mqlscore.contract import ContractError
    from mqlscore.spark.read import read_export

    when = _as_of_option(as_of)
    try:
        with console.status(f"Reading and validating {data} on Spark ..."):
            return read_export(spark, _location(data), as_of=when)
    except ContractError as exc:
        _fail(exc.report)


def _train_on_spark(data: Path, as_of: Optional[str], settings, report_dir: Path, master: Optional[str],  # noqa: ANN001
                    work_dir: str, *, force: bool, register: bool, promote: str) -> None:
    """``mqlscore train --engine spark``: the training set built on Spark and written as
    Parquet under ``work_dir``, then training, registration and the report as with pandas."""
    import os
    import time

    from mqlscore.spark.train import prepare_training

    spark, owned = _start_spark(master)
    try:
        export = _read_on_spark(spark, data, as_of)
        run = f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"
        folder = f"{_location(Path(work_dir)) if '://' not in work_dir else work_dir.rstrip('/')}/{run}"
        with console.status("Building the training set on Spark ...") as status:
            prepared = prepare_training(export, settings, folder,
                                        say=lambda m: status.update(f"Spark: {m} ..."))
        counts = prepared.counts
        _print_plain(f"Training set on Spark: {counts['snapshots']:,} snapshots of {counts['leads']:,} leads "
                     f"({counts['labelled']:,} labelled, {counts['censored']:,} censored), written to "
                     f"{prepared.path}; fitting on {len(prepared.training_set.snapshots):,} labelled snapshots "
                     f"({'a sample of whole buying groups' if prepared.sampled else 'all of them'}).")
        export.release()
        _train_register_report(prepared.dataset, settings, report_dir, force=force, register=register,
                               promote=promote, trainer=prepared.train)
    finally:
        if owned:
            spark.stop()


def _train_register_report(dataset, settings, report_dir: Path, *, force: bool = False, register: bool = True,  # noqa: ANN001, ANN202
                           promote: str = "if-better", trainer=None):  # noqa: ANN001
    """Train (with ``trainer``, default ``training.train``), register (unless told not
    to), write the report and attach it to the MLflow run, then print the summary;
    returns the training result and the registration.

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
            result = (trainer or run_training)(dataset, settings, force=force,
                                               say=lambda m: status.update(f"Training: {m} ..."))
    except (NotEnoughData, LeakingColumns) as exc:
        _print_plain(str(exc), style="bold red")
        raise typer.Exit(1) from None
    for line in result.warnings():  # the leak guard's warnings and a base-rate shift
        _print_plain(line, style="yellow")
    registration = None
    if register:
        from mqlscore.registry import RegistrationNotReady

        try:
            with console.status("Logging to MLflow and registering the model ..."):
                registration = register_model(result, dataset, settings, promote=promote)
        except RegistrationNotReady as exc:  # the registry never finished the version: the champion is untouched
            _print_plain(str(exc), style="bold red")
            raise typer.Exit(1) from None
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
    builder = result.scoring_model.builder
    if not builder.intent_learned:
        marked = builder.intent_columns()
        _print_plain("No activity data: intent not learned (the score comes from who the lead is"
                     + (f" and the lead column(s) marked as intent: {', '.join(marked)}" if marked else "") + ").",
                     style="yellow")
    if result.refit is not None:
        _print_plain(result.refit.sentence())
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
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Score as of this time (default: the folder's). With "
                                        "--all-leads or --snapshots, what happened after it still fills the "
                                        "look-back columns."),
    model: Optional[str] = typer.Option(None, "--model", help="MLflow model URI (default models:/NAME@champion)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (the model name; the "
                                          "snapshot rule for --snapshots)."),
    all_leads: bool = typer.Option(False, "--all-leads", help="Look back: score every lead created before the as-of "
                                   "time, open or not, at that time, with its state then and whether it became an "
                                   "SQL within the model's horizon after it."),
    snapshots: bool = typer.Option(False, "--snapshots", help="Look back: score every lead at each of its own "
                                   "snapshot times before the as-of time (the training rule, settings.snapshots), "
                                   "with its state and whether it became an SQL within the model's horizon."),
    engine: str = typer.Option("pandas", "--engine", help="pandas (default: in memory) or spark: a Parquet export "
                               "scored on Spark's executors, written as Parquet (a folder of part files at --out, "
                               "which must end in .parquet; any path Spark writes)."),
    master: Optional[str] = typer.Option(None, "--master", help="Spark master with --engine spark (default "
                                         "local[2]; e.g. local[*], spark://HOST:7077, yarn)."),
    accounts: bool = typer.Option(False, "--accounts", help="Write one row per account instead (a buying group: the "
                                  "open leads sharing an account_id), scored from its open leads: probability of "
                                  "an SQL within the horizon, score, tier, MQA flag, committee roles engaged to "
                                  "missing, the missing role worth finding, reasons, lead ids by score."),
) -> None:
    """Score every lead open at the as-of time, with reasons; or look back over a history (--all-leads, --snapshots);
    or score every account with an open lead (--accounts)."""
    from mqlscore.batch import SCORE_FILE_SUFFIXES, lead_counts, score_leads_at, score_snapshots
    from mqlscore.contract import table_files
    from mqlscore.contract.schema import champion_uri

    if all_leads and snapshots:
        raise typer.BadParameter("--all-leads and --snapshots are two different look-backs: choose one",
                                 param_hint="--all-leads / --snapshots")
    if accounts and (all_leads or snapshots or engine != "pandas"):
        raise typer.BadParameter("--accounts scores the accounts of the open leads, on the pandas engine (no "
                                 "look-back, no --engine spark)", param_hint="--accounts")
    _check_engine(engine, master)
    if engine == "spark":
        if all_leads or snapshots:
            raise typer.BadParameter("the look-backs (--all-leads, --snapshots) run on the pandas engine",
                                     param_hint="--engine")
        if out.suffix.lower() != ".parquet":
            raise typer.BadParameter("with --engine spark the scores are written as Parquet: end it in .parquet",
                                     param_hint="--out")
        _score_on_spark(data, out, as_of, model, config, master)
        return
    if out.suffix.lower() not in SCORE_FILE_SUFFIXES:
        raise typer.BadParameter("must end in .csv or .parquet", param_hint="--out")
    _check_outputs([out], "--out", inputs=table_files(data), input_folders=[data])
    settings = _load_settings(config)
    uri = model or champion_uri(settings.train.model_name)
    looking_back = all_leads or snapshots
    when = _as_of_option(as_of) if looking_back else None
    # A look-back reads the whole folder: features still use only what happened before each
    # row's time, and the outcomes after it fill the look-back columns.
    dataset = _load_dataset(data, None if looking_back else as_of)
    if not looking_back and lead_counts(dataset).open == 0:
        _no_open_lead(dataset)
    scoring_model = _load_model(uri)
    if accounts:
        _write_accounts(dataset, scoring_model, out, uri)
        return
    if not looking_back:
        _write_scores(dataset, scoring_model, out, uri)
        return
    when = dataset.as_of if when is None else when
    if all_leads:
        look = score_leads_at(scoring_model, dataset, when, snapshot_config=settings.snapshots)
        what = f"leads created before {when}"
    else:
        look = score_snapshots(scoring_model, dataset, settings.snapshots, when)
        what = f"snapshots before {when}"
    if not len(look):
        _print_plain(f"Nothing to score: no {what} (the export's leads were created from "
                     f"{dataset.leads['created_at'].min()}).", style="bold red")
        raise typer.Exit(1)
    _write_look_back(look, out, uri, what)


def _score_on_spark(data: Path, out: Path, as_of: Optional[str], model: Optional[str], config: Optional[Path],
                    master: Optional[str]) -> None:
    """``mqlscore score --engine spark``: the open leads scored on the executors and written as Parquet."""
    from mqlscore.contract.schema import TABLES, champion_uri
    from mqlscore.spark.score import write_scores

    target = _location(out)
    if "://" not in target:
        source = Path(_location(data))
        where = Path(target)
        if where == source or (source in where.parents and where.name.split(".")[0].lower() in TABLES):
            _print_plain(f"--out {out} is an input: writing it would overwrite the data; choose another path",
                         style="bold red")
            raise typer.Exit(2)
        _check_outputs([], "--out", folder=where) if where.is_dir() else _check_outputs([where], "--out")
    settings = _load_settings(config)
    uri = model or champion_uri(settings.train.model_name)
    scoring_model = _load_model(uri)
    spark, owned = _start_spark(master)
    try:
        export = _read_on_spark(spark, data, as_of)
        try:
            with console.status("Scoring the open leads on Spark ..."):
                summary = write_scores(export, scoring_model, target)
        except OSError as exc:
            _write_failed(out, exc)
        if not summary.rows:
            _print_plain(f"No lead is open at {export.as_of}: {target} holds no row. The look-backs (--all-leads, "
                         "--snapshots) run on the pandas engine.", style="bold red")
            raise typer.Exit(1)
        _print_plain(f"Scored {summary.rows:,} open leads as of {export.as_of} with {uri} on Spark: "
                     f"{summary.mqls:,} MQLs; tiers " + ", ".join(f"{t} {n:,}" for t, n in summary.tiers.items())
                     + f". Written to {target} (Parquet).")
        export.release()
    finally:
        if owned:
            spark.stop()


def _no_open_lead(dataset) -> NoReturn:  # noqa: ANN001
    """Say why no lead is open at the as-of time (counts only) and how to look back instead; exit 1."""
    from mqlscore.batch import lead_counts

    n = lead_counts(dataset)
    _print_plain(f"No lead is open at {dataset.as_of}, so there is nothing to score: of the {n.leads:,} leads in the "
                 f"export, {n.created_after:,} were created at or after that time, {n.sql:,} became an SQL and "
                 f"{n.closed:,} were closed (disqualified or lost) at or before it. Nothing was written. To look back "
                 "over this closed history: mqlscore score --all-leads (every lead created before the as-of time, "
                 "open or not, at that time; pass an earlier --as-of) or mqlscore score --snapshots (every lead at "
                 "its own snapshot times), both with what became of each lead.", style="bold red")
    raise typer.Exit(1)


def _load_model(uri: str):  # noqa: ANN202
    """The registered model at ``uri``, or a plain message and exit 1 when there is none."""
    from mqlscore.registry import load_scoring_model

    try:
        with console.status(f"Loading {uri} ..."):
            return load_scoring_model(uri)
    except LookupError as exc:
        _print_plain(f"{exc}\nTrain and register one first: mqlscore train --data DIR", style="bold red")
        raise typer.Exit(1) from None


def _write_scores(dataset, scoring_model, out: Path, source: str) -> None:  # noqa: ANN001
    """Score every lead open at the dataset's as-of time and write the score file."""
    from mqlscore.batch import score_open_leads, tier_counts, write_score_file

    with console.status("Scoring the open leads ..."):
        scored = score_open_leads(scoring_model, dataset)
    if scored.empty:
        _no_open_lead(dataset)
    try:
        write_score_file(scored, out)
    except OSError as exc:
        _write_failed(out, exc)
    counts = tier_counts(scored)
    _print_plain(f"Scored {len(scored):,} open leads as of {dataset.as_of} with {source}: "
                 f"{int(scored['is_mql'].sum()):,} MQLs; tiers " + ", ".join(f"{t} {n:,}" for t, n in counts.items())
                 + f". Written to {out}.")


def _write_accounts(dataset, scoring_model, out: Path, source: str) -> None:  # noqa: ANN001
    """Score every account with a lead open at the dataset's as-of time and write the account file."""
    from mqlscore.accounts import account_file_frame, score_open_accounts
    from mqlscore.batch import tier_counts, write_score_file

    if scoring_model.accounts is None:
        _print_plain(f"{source} has no account scores (it was trained before them): retrain it with "
                     "mqlscore train --data DIR to score accounts. Nothing was written.", style="bold red")
        raise typer.Exit(1)
    with console.status("Scoring the accounts of the open leads ..."):
        scored = score_open_accounts(scoring_model, dataset)
    if scored.empty:
        _print_plain(f"No open lead at {dataset.as_of} has an account_id, so there is no account to score. Nothing "
                     "was written.", style="bold red")
        raise typer.Exit(1)
    try:
        write_score_file(account_file_frame(scored), out)
    except OSError as exc:
        _write_failed(out, exc)
    counts = tier_counts(scored)
    _print_plain(f"Scored {len(scored):,} accounts ({int(scored['n_leads'].sum()):,} open leads) as of "
                 f"{dataset.as_of} with {source}: {int(scored['is_mqa'].sum()):,} MQAs; tiers "
                 + ", ".join(f"{t} {n:,}" for t, n in counts.items()) + f". Written to {out}.")


def _write_look_back(look, out: Path, source: str, what: str) -> None:  # noqa: ANN001
    """Score a look-back chunk by chunk into the score file and summarise it, with the
    SQL rate per tier among the rows whose horizon had ended by the export's as-of time."""
    import time

    from mqlscore.batch import write_score_file

    summary, total, t0 = look.summary(), len(look), time.perf_counter()
    with console.status(f"Scoring {total:,} {what} ...") as status:
        def progress(done: int, total: int) -> None:
            status.update(f"Scoring {what}: {done:,} of {total:,} rows ...")

        try:
            write_score_file(summary.count(look.chunks(progress)), out)
        except OSError as exc:
            _write_failed(out, exc)
    tiers = ", ".join(f"{t} {n:,}" for t, n in summary.tiers.items())
    # a snapshot is only ever taken of an open lead: the states say something for --all-leads
    states = "" if summary.states.get("open", 0) == summary.rows else "; lead state at each row's time: " + ", ".join(
        f"{s} {n:,}" for s, n in summary.states.items())
    _print_plain(f"Scored {summary.rows:,} rows ({what}) of {summary.leads:,} leads with {source} in "
                 f"{time.perf_counter() - t0:.0f} s: {summary.mqls:,} MQLs; tiers {tiers}{states}. Written to {out}.")
    horizon, ended = look.horizon_days, summary.rows - summary.censored
    if not ended:
        _print_plain(f"No row's {horizon}-day horizon had ended by the export's as-of time ({look.dataset.as_of}): "
                     "sql_within_horizon is empty (censored) on every row. Pass an earlier --as-of to look back.")
        return
    rates = ", ".join(f"{t} {r:.1%} ({summary.sqls[t]:,} of {summary.completed[t]:,})" if r is not None else f"{t} -"
                      for t, r in summary.sql_rates().items())
    overall = sum(summary.sqls.values()) / ended
    _print_plain(f"Became an SQL within {horizon} days, among the {ended:,} rows whose horizon had ended by the "
                 f"export's as-of time: {rates}; all {overall:.1%}. {summary.censored:,} rows are censored "
                 "(sql_within_horizon empty).")
    if summary.in_sample:
        _print_plain(f"{summary.in_sample:,} of those {ended:,} rows had their outcome known when the model was "
                     f"trained (its data ended {summary.trained_until}): if it was trained on this history, it may "
                     "have been fitted on them, and their rates flatter it.", style="yellow")


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
    store: Optional[str] = typer.Option(None, "--store", help="Lead store URL (sqlite:///PATH or postgresql://...): "
                                        "POST /events, GET /leads/{id}, GET /handoffs (default: MQLSCORE_STORE)."),
    clock_from: Optional[str] = typer.Option(None, "--clock-from", help="Run the store's clock from this moment "
                                             "(ISO-8601), or 'export': the as-of time of the export last loaded "
                                             "into the store (replaying a demo export)."),
    webhook: Optional[str] = typer.Option(None, "--webhook", help="POST each MQL hand-off to this URL, signed with "
                                          "MQLSCORE_WEBHOOK_SECRET."),
) -> None:
    """Run the scoring service (POST /score, GET /model, the lead card at /ui, and with --store the lead store)
    until interrupted."""
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
        store_environment = _store_environment(store, clock_from, webhook)
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
    env.update(store_environment)
    os.execve(command[0], command, env)


def _store_environment(url: Optional[str], clock_from: Optional[str], webhook: Optional[str]) -> dict[str, str]:
    """The server's lead-store variables from serve's options, checked before the server starts
    (a SQLite path made absolute: the server runs from the bento's folder)."""
    import os

    from mqlscore.serving.errors import StartupError
    from mqlscore.serving.store_service import WEBHOOK_ENV
    from mqlscore.store.location import CLOCK_ENV, STORE_ENV
    from mqlscore.store import LeadStore, clock_from_text, export_clock_start
    from mqlscore.store.database import SQLITE, StoreUnavailable, dialect_of, redact, sqlite_path

    env: dict[str, str] = {}
    url = (url or os.environ.get(STORE_ENV, "")).strip()
    if url:
        try:
            if dialect_of(url) == SQLITE:
                url = "sqlite:///" + str(sqlite_path(url).expanduser().resolve())
            opened = LeadStore(url)
            start = export_clock_start(opened) if (clock_from or "").strip().lower() == "export" else clock_from
            counts = opened.counts()
            opened.close()
        except (StoreUnavailable, ValueError, RuntimeError) as exc:
            raise StartupError(f"lead store {redact(url)}: {exc}") from None
        env[STORE_ENV] = url
        _print_plain(f"Lead store {redact(url)}: {counts['leads']:,} leads, {counts['events']:,} events, "
                     f"{counts['handoffs']:,} hand-offs so far.")
        if start:
            clock_from_text(start)  # a bad moment stops the start here
            env[CLOCK_ENV] = str(start)
            _print_plain(f"The store's clock starts at {start} and runs in real time.")
    elif clock_from or webhook:
        raise StartupError("--clock-from and --webhook need a lead store (--store URL)")
    if webhook:
        env[WEBHOOK_ENV] = webhook
    return env


store_app = typer.Typer(help="The lead store behind the service: load an export, see what it holds.",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")
DEFAULT_STORE = "sqlite:///data/store/leads.db"


@store_app.command("load")
def store_load(
    data: Path = typer.Option(..., "--data", help="Folder holding leads, activities and outcomes (a CRM export)."),
    store: str = typer.Option(DEFAULT_STORE, "--store", envvar="MQLSCORE_STORE",
                              help="Lead store URL (sqlite:///PATH or postgresql://USER@HOST:PORT/DB)."),
    handoffs: bool = typer.Option(False, "--handoffs", help="Hand off the leads that are MQLs when first scored "
                                  "(default: the export's history was handed off already; they start quietly)."),
    lenient: bool = typer.Option(False, "--lenient", help="Set invalid rows aside instead of stopping."),
) -> None:
    """Backfill the lead store from a CRM export; loading the same export again changes nothing."""
    from rich.progress import Progress

    from mqlscore.store import LeadStore, load_dataset
    from mqlscore.store.database import StoreUnavailable, redact

    dataset = _load_dataset(data, None, lenient)
    _print_report(dataset.report)
    try:
        opened = LeadStore(store)
    except (StoreUnavailable, ValueError, RuntimeError) as exc:
        _print_plain(f"Cannot open the lead store {redact(store)}: {exc}", style="bold red")
        raise typer.Exit(1) from None
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"Loading {len(dataset.leads):,} leads into {opened.location}", total=len(dataset.leads))
        loaded = load_dataset(opened, dataset, quiet=not handoffs,
                              progress=lambda done, total: bar.update(task, completed=done))
    counts = opened.counts()
    opened.close()
    _print_plain(f"Loaded {loaded.leads:,} leads, {loaded.activities:,} activities and {loaded.outcomes:,} outcomes "
                 f"into {opened.location}: {loaded.accepted:,} new events, {loaded.duplicates:,} already there.")
    _print_plain(f"The store holds {counts['leads']:,} leads; {counts['waiting']:,} wait to be scored by the "
                 "service (mqlscore serve --store ...), which hands off MQL crossings from then on.")


@store_app.command("status")
def store_status(
    store: str = typer.Option(DEFAULT_STORE, "--store", envvar="MQLSCORE_STORE", help="Lead store URL."),
) -> None:
    """What the lead store holds: leads, events, MQLs, hand-offs, leads waiting to be scored."""
    from mqlscore.store import LeadStore
    from mqlscore.store.database import StoreUnavailable, redact

    try:
        opened = LeadStore(store)
    except (StoreUnavailable, ValueError, RuntimeError) as exc:
        _print_plain(f"Cannot open the lead store {redact(store)}: {exc}", style="bold red")
        raise typer.Exit(1) from None
    import json

    from mqlscore.store.scorer import MODEL_CHANGE_META
    from mqlscore.store.repository import stamp

    counts = opened.counts()
    _print_plain(f"Lead store {opened.location}:")
    for name, value in counts.items():
        _print_plain(f"  {name:<11} {value:>12,}")
    change = opened.meta(MODEL_CHANGE_META)
    if change:
        c = json.loads(change)
        _print_plain(f"Model {c['model']} (replacing {c['replaced'] or 'none'}) rescored {c['rescored']:,} leads on "
                     f"{stamp(c['at']):%Y-%m-%d %H:%M} UTC: {c['handoffs']:,} hand-offs ({c['up']:,} up, "
                     f"{c['down']:,} down).")
    opened.close()


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


def _time_option(value: Optional[str], option: str) -> Optional[pd.Timestamp]:
    """A date or ISO-8601 time given to ``option`` (a date is 00:00 UTC); exit 2 when it is not one."""
    from mqlscore.contract import parse_as_of
    from mqlscore.contract.schema import EARLIEST, LATEST, OUT_OF_RANGE

    try:
        when = parse_as_of(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc).replace("as-of time", "time"), param_hint=option) from None
    if when is not None and not EARLIEST <= when < LATEST:
        raise typer.BadParameter(f"time {value.strip()!r} is {OUT_OF_RANGE}", param_hint=option)
    return when


@app.command()
def backtest(
    data: Path = typer.Option(..., "--data", help="Folder holding leads, activities and outcomes."),
    every: Optional[str] = typer.Option(None, "--every", help="Step between origins: N days, weeks or calendar "
                                        "months, e.g. 30d, 4w, 1m (default: backtest.every, 30d)."),
    start: Optional[str] = typer.Option(None, "--from", help="First origin, a date or ISO-8601 time (default: "
                                        "backtest.origins - 1 steps before the last, 6 origins in all, or the "
                                        "earliest with enough history)."),
    end: Optional[str] = typer.Option(None, "--to", help="Last origin at most (default and latest: the export's "
                                      "as-of time minus the horizon, so that every outcome is known)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file: training as `mqlscore train` "
                                          "uses it, and the backtest section."),
    out: Path = typer.Option(Path("reports/backtest"), "--out", help="Folder for backtest.csv, backtest.json and "
                             "backtest.png."),
) -> None:
    """How training would have done: at each origin, train on what was known then, score the leads open then and
    compare with what happened within the horizon, next to the hand-set baseline."""
    import time

    from rich.table import Table

    from mqlscore.backtest import CensoredOrigin, OriginError, backtest as run_backtest, choose_origins, parse_every
    from mqlscore.backtest.report import FILES, write_backtest
    from mqlscore.contract import table_files

    settings = _load_settings(config)
    try:
        step = parse_every(every if every is not None else settings.backtest.every)
    except OriginError as exc:
        raise typer.BadParameter(str(exc), param_hint="--every") from None
    first, last = _time_option(start, "--from"), _time_option(end, "--to")
    _check_outputs([out / name for name in FILES], "--out", inputs=table_files(data), input_folders=[data],
                   folder=out)
    dataset = _load_dataset(data, None)
    horizon = settings.snapshots.horizon_days
    try:
        origins = choose_origins(dataset, horizon_days=horizon, validation_days=settings.train.validation_days,
                                 every=step, start=first, end=last, count=settings.backtest.origins)
    except CensoredOrigin as exc:
        raise typer.BadParameter(str(exc), param_hint="--to") from None
    except OriginError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from / --to") from None
    refit = "refitted on every labelled snapshot" if settings.train.refit else "not refitted (train.refit: false)"
    _print_plain(f"Backtest of {len(origins)} origin(s) from {origins[0]:%Y-%m-%d} to {origins[-1]:%Y-%m-%d}, every "
                 f"{step.words()}, on {data} (as of {dataset.as_of}; SQL within {horizon} days). At each origin: "
                 f"training as `mqlscore train` does on what was known then (champion {refit}; no half-lives, no "
                 "registration), then the leads open then scored and compared with what happened next.",
                 style="bold")
    started, state = time.perf_counter(), {"i": 0}
    with console.status("Backtest ...") as status:
        def say(message: str) -> None:
            i = state["i"]
            status.update(f"Origin {i + 1}/{len(origins)} ({origins[i]:%Y-%m-%d}): {message} ...")

        def done(i: int, result) -> None:  # noqa: ANN001
            state["i"] = i + 1
            f = result.figures
            if result.status == "ok":
                _print_plain(f"{i + 1}/{len(origins)} {result.origin:%Y-%m-%d}: {f['champion']} trained in "
                             f"{f['train_seconds']:.0f} s; {f['open_leads']:,} open leads, {f['sqls']:,} SQL within "
                             f"{horizon} days; ROC-AUC {_figure(f['roc_auc'])} (baseline "
                             f"{_figure(f['baseline_roc_auc'])}), AP {_figure(f['average_precision'])} (baseline "
                             f"{_figure(f['baseline_average_precision'])})")
            else:
                _print_plain(f"{i + 1}/{len(origins)} {result.origin:%Y-%m-%d}: skipped, training refused: "
                             f"{result.reason}", style="yellow")

        try:
            result = run_backtest(dataset, settings, origins, say=say, on_origin=done)
        except CensoredOrigin as exc:  # choose_origins refuses these first; kept for safety
            raise typer.BadParameter(str(exc), param_hint="--to") from None
    table = result.table()
    view = Table(title=f"Leads open at each origin, SQL within {horizon} days: champion / hand-set baseline",
                 box=None, title_justify="left")
    columns = ("origin", "open", "SQLs", "ROC-AUC", "AP", "MQL SQL\nrate", "SQLs\ncaptured")
    for col in columns:
        view.add_column(col, justify="left" if col == "origin" else "right", no_wrap=True)
    for r in table.itertuples(index=False):
        if r.status != "ok":
            view.add_row(r.origin[:10], "", "", "skipped", style="dim")
            continue
        view.add_row(r.origin[:10], f"{int(r.open_leads):,}", f"{int(r.sqls):,}",
                     f"{_figure(r.roc_auc)} / {_figure(r.baseline_roc_auc)}",
                     f"{_figure(r.average_precision)} / {_figure(r.baseline_average_precision)}",
                     f"{_share(r.mql_sql_rate)} ({_share(r.promised_mql_sql_rate)})",
                     f"{_share(r.share_of_sqls_captured)} ({_share(r.promised_share_of_sqls)})")
    console.print(view)
    _print_plain("MQL SQL rate and SQLs captured: realised at the origin (in brackets: as promised when training "
                 "chose the threshold, on its validation period). Log loss and more in the files.")
    if (table["status"] != "ok").any():
        _print_plain("A skipped origin's reason is training's own: in a backtest, set snapshots.horizon_days and "
                     "train.min_* in the --config file (--horizon-days and --force are options of mqlscore train).",
                     style="yellow")
    try:
        written = write_backtest(result, out)
    except OSError as exc:
        _write_failed(out, exc)
    summary = result.summary()
    if summary["trained"]:
        _print_plain(f"Mean over {summary['trained']} trained origin(s): ROC-AUC {_figure(summary['mean_roc_auc'])} "
                     f"(baseline {_figure(summary['mean_baseline_roc_auc'])}), AP "
                     f"{_figure(summary['mean_average_precision'])} (baseline "
                     f"{_figure(summary['mean_baseline_average_precision'])}).")
    _print_plain(f"Written to {', '.join(str(p) for p in written)} ({time.perf_counter() - started:.0f} s).")
    if not summary["trained"]:
        _print_plain("No origin could be trained: every training refused (reasons above). Pass an earlier --to, a "
                     "longer export or lower train.min_* settings.", style="bold red")
        raise typer.Exit(1)


def _figure(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _share(value: Optional[float]) -> str:
    return "-" if value is None or value != value else f"{value:.0%}"


MONITOR_FAIL_EXIT = 3  # `monitor --fail-on`: the verdict reached the level asked for


@app.command()
def monitor(
    data: Path = typer.Option(..., "--data", help="A newer export of the same CRM (leads, activities, outcomes)."),
    model: Optional[str] = typer.Option(None, "--model", help="MLflow model URI (default models:/NAME@champion)."),
    out: Path = typer.Option(Path("reports/monitoring"), "--out", help="Folder for monitor.json, monitor.md and the "
                             "plots."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file: the monitor section, the "
                                          "model name, and train.validation_days and the snapshot rule as trained."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="retrain: exit 3 when the verdict is retrain; "
                                          "watch: exit 3 when it is watch or retrain."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The export's as-of time (default: the folder's)."),
    recent_weeks: Optional[int] = typer.Option(None, "--recent-weeks", min=1, max=104, help="Drift compares the "
                                               "model's training window with the last N weeks (default "
                                               "monitor.recent_weeks, 8)."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not log the monitoring to MLflow."),
) -> None:
    """Judge a registered model on a newer export: realised performance against its promise, drift of its
    signals and score, new leads and activities, and a verdict (healthy, watch or retrain) with reasons."""
    from mqlscore.contract import table_files
    from mqlscore.contract.schema import champion_uri
    from mqlscore.monitoring import MonitorError, monitor as run_monitor
    from mqlscore.monitoring.report import JSON_FILE, MARKDOWN_FILE, PLOTS, write_report

    if fail_on not in (None, "watch", "retrain"):
        raise typer.BadParameter("must be watch or retrain", param_hint="--fail-on")
    settings = _load_settings(config)
    if recent_weeks is not None:
        settings = settings.model_copy(update={"monitor": settings.monitor.model_copy(
            update={"recent_weeks": recent_weeks})})
    _check_outputs([out / name for name in (JSON_FILE, MARKDOWN_FILE, *PLOTS)], "--out", inputs=table_files(data),
                   input_folders=[data], folder=out)
    dataset = _load_dataset(data, as_of)
    uri = model or champion_uri(settings.train.model_name)
    scoring_model = _load_model(uri)
    try:
        with console.status("Monitoring ...") as status:
            result = run_monitor(dataset, scoring_model, settings, model_uri=uri,
                                 say=lambda m: status.update(f"Monitoring: {m} ..."))
    except MonitorError as exc:
        _print_plain(f"Cannot monitor {uri} on {data}: {exc}.", style="bold red")
        raise typer.Exit(1) from None
    style = {"healthy": "bold green", "watch": "bold yellow", "retrain": "bold red"}[result.verdict]
    _print_plain(f"Verdict for {uri} (v{result.model.get('version') or '?'}) on the export as of "
                 f"{dataset.as_of:%Y-%m-%d %H:%M}: {result.verdict.upper()}", style=style)
    _print_plain(result.promise_line, style="bold")
    for reason in result.reasons:
        _print_plain(f"- {reason.level}: {reason.text}",
                     style={"retrain": "red", "watch": "yellow"}.get(reason.level, "dim"))
    try:
        files = write_report(result, out)
    except OSError as exc:
        _write_failed(out, exc)
    _print_plain(f"Written to {files.json} and {files.markdown} with {len(files.pngs)} plot(s) "
                 f"({result.seconds.get('total', 0):.0f} s).")
    if not no_log:
        from mqlscore.monitoring.history import log_monitoring

        with console.status("Logging to MLflow ..."):
            logged = log_monitoring(result, settings.train.experiment, out)
        tagged = (f"; model version {result.model.get('name')}/{logged.tagged_version} tagged monitor.last_verdict="
                  f"{result.verdict}" if logged.tagged_version else "")
        _print_plain(f"Logged to MLflow: run {logged.run_id} in experiment {logged.experiment}{tagged}.")
    if fail_on is not None and (result.verdict == "retrain" or (fail_on == "watch" and result.verdict == "watch")):
        raise typer.Exit(MONITOR_FAIL_EXIT)


def main() -> None:  # pragma: no cover - console entry point
    app()
