"""Reports of a training run: the evaluation report, the global explanation and
the model card, written after training and registration.

One job per module: :mod:`.context` (the typed facts a report prints),
:mod:`.markdown` (formats and sections shared by the report and the card),
:mod:`.evaluation_report` (metrics tables, charts, ``report.md``),
:mod:`.explanations` (``explanations.md``, the scorecard's points table, the
half-lives), :mod:`.model_card` (``model_card.md``). :func:`write_report` writes
them all for one training run into one folder. :mod:`.folder` makes the
report folder switched, never mixed: ``mqlscore train`` (after
``training.train`` and ``training.register``) writes the report into a partial
folder from :func:`stage_report`, logs it to the MLflow run with
``registry.log_report`` and only then switches it in with
:meth:`StagedReport.publish`, so ``models/`` shows the complete previous report
or the complete new one, whenever the run is killed.

Only aggregates are written: never a lead id, an email, a name or a title.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mqlscore.reporting.context import (DataWindow, Fingerprint, Registered, ReportContext, TrainingRun,
                                        build_context, fit_intent_share)
from mqlscore.reporting.evaluation_report import EvaluationFiles, write_evaluation_report
from mqlscore.reporting.explanations import write_explanations
from mqlscore.reporting.folder import StagedReport, clean_leftovers, current_report, stage_report
from mqlscore.reporting.model_card import write_model_card

__all__ = [
    "DataWindow", "EvaluationFiles", "Fingerprint", "Registered", "ReportContext", "ReportFiles", "StagedReport",
    "TrainingRun", "build_context", "clean_leftovers", "current_report", "fit_intent_share", "stage_report",
    "write_evaluation_report", "write_explanations", "write_model_card", "write_report",
]

SCORECARD = "scorecard"


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote."""

    folder: Path
    report_md: Path
    model_card_md: Path
    explanations_md: Path
    pngs: list[Path]
    csvs: list[Path]


def write_report(result: TrainingRun, registration: Registered | None, folder: Path) -> ReportFiles:
    """Write the whole report of a training run into ``folder`` (plainly, file by
    file: ``mqlscore train`` gives it a partial folder from :func:`stage_report`): the evaluation
    report of every candidate, the champion's explanations (with the scorecard's
    points table on the score's scale and the learned half-lives) and the model
    card. ``registration`` (``None`` when not registered) names the version and
    the promotion decision."""
    folder = Path(folder)
    model = result.scoring_model
    sample_X, sample_y = result.validation.sample_X, result.validation.sample_y
    attribution = model.attribution(model.model_input(sample_X))
    context = build_context(result, registration, attribution)
    evaluations = [c.evaluation for c in result.candidates.values()]
    evaluation = write_evaluation_report(folder, evaluations, context)
    card = write_model_card(folder, evaluations, context)
    # the registered scorecard's points when it is the champion (refitted or not), else the candidate's
    scorecard = model if result.champion == SCORECARD else (
        result.candidate_model(SCORECARD) if SCORECARD in result.candidates else None)
    points = scorecard.points_table() if scorecard is not None else None
    explained = write_explanations(folder, model, sample_X, sample_y, attribution=attribution, points_table=points,
                                   scorecard_is_champion=result.champion == SCORECARD, decay=result.decay)
    return ReportFiles(folder=folder, report_md=evaluation.report_md, model_card_md=card,
                       explanations_md=folder / "explanations.md",
                       pngs=evaluation.pngs + [p for p in explained if p.suffix == ".png"],
                       csvs=evaluation.csvs + [p for p in explained if p.suffix == ".csv"])
