"""The leak guard: columns that know the outcome stop training, naming each with its evidence;
allowed columns train and are reported; a clean export raises nothing; exclude_columns match
names loosely and warn about names that match nothing. Then each measure on small hand-made frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.cli import app
from mqlscore.config import FeatureConfig, GeneratorConfig, Settings
from mqlscore.contract import load_folder
from mqlscore.evaluation import evaluate_model
from mqlscore.features import build_training_set
from mqlscore.features.fit import column_key, extra_columns, unmatched_names
from mqlscore.features.training_set import split_by_time
from mqlscore.leakguard import (LeakGuard, LeakingColumns, equals_outcome, lead_levels, leaky_name_terms,
                                open_closed_pattern, out_of_fold_rate, pure_values, single_column_auc)
from mqlscore.reporting import write_evaluation_report, write_model_card
from mqlscore.reporting.context import LeakSection, ReportContext, SuspectColumn
from mqlscore.synthetic import generate_export
from mqlscore.training import check_leaks

# No LightGBM (its minimum is never reached) and no half-lives: the guard is what is tested here.
FAST_CONFIG = "train:\n  estimate_half_lives: false\n  gbm_min_conversions: 100000\n"


def _with_columns(clean: Path, out: Path, status_name: str = "Lead Status", converted: bool = True) -> Path:
    """A copy of ``clean`` whose leads carry what a CRM export often does: the outcome itself
    ("Converted": Yes for every lead with an SQL date, written at export) and a disposition sales
    fills in after qualification ("Closed Won" / "Disqualified", and "Working" for a few open leads)."""
    shutil.copytree(clean, out)
    leads = pd.read_csv(out / "leads.csv", dtype=str, keep_default_na=False, na_values=[""])
    outcomes = pd.read_csv(out / "outcomes.csv", dtype=str)
    sql = leads["lead_id"].isin(outcomes.loc[outcomes["sql_at"].notna(), "lead_id"])
    dq = leads["lead_id"].isin(outcomes.loc[outcomes["disqualified_at"].notna(), "lead_id"]) & ~sql
    draw = np.random.default_rng(0).random(len(leads))
    if converted:
        leads["Converted"] = np.where(sql, "Yes", "No")
    leads[status_name] = np.select([sql & (draw < 0.95), dq & (draw < 0.9), ~sql & ~dq & (draw < 0.1)],
                                   ["Closed Won", "Disqualified", "Working"], None)
    leads.to_csv(out / "leads.csv", index=False)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("leakguard") / "clean"
    generate_export(GeneratorConfig(n_leads=1_500, seed=5, mc_sims=10), out)
    return out


@pytest.fixture(scope="module")
def leaky(clean: Path) -> Path:
    return _with_columns(clean, clean.with_name("leaky"))


@pytest.fixture(scope="module")
def config(clean: Path) -> Path:
    path = clean.with_name("fast.yaml")
    path.write_text(FAST_CONFIG)
    return path


def _guard(dataset, features: FeatureConfig | None = None):
    """The training set's fitting period and the guard's report on it, as ``train`` runs it."""
    settings = Settings(features=features or FeatureConfig())
    ts = build_training_set(dataset, settings.features, settings.snapshots)
    is_fit, _ = split_by_time(ts.snapshots, ts.as_of, ts.horizon_days, settings.train.validation_days)
    return ts, check_leaks(dataset, ts, is_fit, settings)


def test_training_stops_naming_the_outcome_and_the_disposition(leaky: Path, config: Path, tmp_path: Path) -> None:
    cli = CliRunner().invoke(app, ["train", "--data", str(leaky), "--no-register", "--config", str(config),
                                   "--report-dir", str(tmp_path / "report")])
    assert cli.exit_code == 1, cli.output
    out = " ".join(cli.output.split())
    assert "Training stopped: 2 column(s) look like they know the outcome" in out
    converted = next(line for line in cli.output.splitlines() if line.startswith("- 'Converted'"))
    status = next(line for line in cli.output.splitlines() if line.startswith("- 'Lead Status'"))
    assert "equals the outcome: 'yes' picks out the leads that became SQL (precision 100.0%, recall 100.0%)" \
        in converted
    assert "'closed won':" in status and "100% SQL" in status and "'disqualified':" in status
    assert "leads closed by the export" in status and "name reads like an outcome" in status
    assert "--allow-column 'Converted' --allow-column 'Lead Status'" in out
    assert "product_interest" not in out  # the demo's genuine extra column is not named
    assert not (tmp_path / "report").exists()  # nothing was fitted or written


def test_allowed_columns_train_and_are_reported(leaky: Path, config: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    cli = CliRunner().invoke(app, ["train", "--data", str(leaky), "--no-register", "--config", str(config),
                                   "--report-dir", str(report), "--allow-column", "converted",
                                   "--allow-column", " lead_status"])
    assert cli.exit_code == 0, cli.output
    assert "Column 'Converted':" in cli.output and "(kept: allowed deliberately)" in cli.output
    for name in ("report.md", "model_card.md"):
        text = (report / name).read_text()
        section = text.split("## Columns that look like they know the outcome", 1)[1].split("\n## ", 1)[0]
        assert "measured the 3 extra lead column(s)" in section
        rows = [line for line in section.splitlines() if line.startswith(("| Converted", "| Lead Status"))]
        assert len(rows) == 2 and all("| allowed: kept deliberately" in row for row in rows)
        assert "equals the outcome" in rows[0] and "product_interest" not in section


def test_a_clean_export_is_not_flagged(clean: Path) -> None:
    ts, report = _guard(load_folder(clean))
    assert list(ts.builder.extras_) == ["product_interest"]
    assert [c.column for c in report.columns] == ["product_interest"]
    (column,) = report.columns
    assert column.level == "none" and column.decision == "kept" and column.evidence == ()
    assert column.auc is not None and 0.5 <= column.auc < 0.7
    assert report.reported == [] and report.warnings() == [] and report.fit_leads > 500


def test_exclude_columns_match_loosely_and_warn_about_unmatched_names(clean: Path, tmp_path: Path) -> None:
    data = load_folder(_with_columns(clean, tmp_path / "status", status_name="Lead_Status", converted=False))
    features = FeatureConfig(exclude_columns=(" lead status ", "Lead Score"))
    ts, report = _guard(data, features)
    assert "Lead_Status" not in ts.builder.extras_
    assert not any("lead_status" in name for name in ts.builder.feature_names_)
    decided = {c.column: c.decision for c in report.columns}
    assert decided == {"product_interest": "kept", "Lead_Status": "excluded"}
    excluded = report.columns[[c.column for c in report.columns].index("Lead_Status")]
    assert excluded.level == "stop"  # still measured: the report shows why it was right to exclude it
    assert report.notes == ("features.exclude_columns: 'Lead Score' matches no lead column (names match ignoring "
                            "case, spaces, '_' and '-')",)
    assert report.warnings() == list(report.notes)
    # with the name misspelt the same column stops training, and the message says why it was not excluded
    with pytest.raises(LeakingColumns, match="'Lead_Status'") as info:
        _guard(data, FeatureConfig(exclude_columns=("Lead Stauts",)))
    assert str(info.value).endswith("features.exclude_columns: 'Lead Stauts' matches no lead column (names match "
                                    "ignoring case, spaces, '_' and '-')")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name, terms", [
    ("Lead Status", ("status",)), ("lead_status", ("status",)), ("LeadStatus", ("status",)),
    ("hs_lead_status", ("status",)), ("dealstage", ("stage",)), ("Deal Stage", ("stage", "deal")),
    ("Tags", ("tags",)), ("Lead Quality", ("lead quality",)), ("Last Notable Activity", ("last notable activity",)),
    ("Last Activity", ("last activity",)), ("won_date", ("won",)), ("Close Reason", ("close", "reason")),
    ("Converted", ("converted",)), ("Is SQL", ("sql",)), ("sdr_id", ("sdr",)), ("Disposition", ("disposition",)),
])
def test_names_that_read_like_an_outcome(name: str, terms: tuple[str, ...]) -> None:
    assert set(leaky_name_terms(name)) == set(terms)


@pytest.mark.parametrize("name", ["product_interest", "landing_page_id", "Total Time Spent on Website",
                                  "ideal_customer_profile", "Lead Source", "Country", "Specialization",
                                  "Do Not Email", "annual_revenue"])
def test_names_that_do_not(name: str) -> None:
    assert leaky_name_terms(name) == ()


def test_column_names_match_ignoring_case_spaces_underscores_and_dashes() -> None:
    assert column_key(" Lead Status ") == column_key("lead_status") == column_key("Lead-Status") == "leadstatus"
    leads = pd.DataFrame(columns=["lead_id", "created_at", "Lead_Status", "Segment", "email"])
    assert extra_columns(leads, (" lead status ",)) == ["Segment"]
    assert extra_columns(leads, ()) == ["Lead_Status", "Segment"]
    assert unmatched_names((" LEAD-STATUS", "score", "segment"), ["Lead_Status", "Segment"]) == ["score"]


# --------------------------------------------------------------------------- measures


def test_single_column_auc_of_categories_is_out_of_fold() -> None:
    rng = np.random.default_rng(1)
    n = 4_000
    y = (rng.random(n) < 0.2).astype(int)
    leads = np.arange(n) // 4  # four snapshots per lead, kept in one fold
    y = y[leads * 4]  # a lead's label on all its rows
    # the label itself, as text: perfect
    assert single_column_auc(pd.Series(np.where(y == 1, "won", "lost")), y, "categorical", leads) == \
        pytest.approx(1.0)
    # an identifier per lead says nothing: out of fold it scores near 0.5 (in sample it would score 1.0)
    ids = pd.Series([f"id{i}" for i in leads])
    assert single_column_auc(ids, y, "categorical", leads) < 0.56
    encoded = out_of_fold_rate(pd.factorize(ids)[0], y, leads)
    assert np.allclose(encoded, encoded[0], atol=0.05)  # every unseen id gets its fold's base rate
    # missing is a level of its own: filled only for positives separates perfectly
    filled = pd.Series(np.where(y == 1, "x", None), dtype=object)
    assert single_column_auc(filled, y, "categorical", leads) == pytest.approx(1.0)
    # a single class: nothing to measure
    assert single_column_auc(ids, np.zeros(n), "categorical", leads) is None


def test_single_column_auc_of_numbers_ranks_them_with_missing_at_either_end() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert single_column_auc(pd.Series([1, 2, 3, 4, 5, 6, 7, 8.0]), y, "numeric") == 1.0
    assert single_column_auc(pd.Series([8, 7, 6, 5, 4, 3, 2, 1.0]), y, "numeric") == 1.0  # either direction
    assert single_column_auc(pd.Series([1.0] * 8), y, "numeric") == 0.5  # ties give 0.5
    # revenue filled only for the converted leads (missing at the low end separates)
    assert single_column_auc(pd.Series([np.nan] * 4 + [0, 10, 0, 5.0]), y, "numeric") == 1.0
    assert single_column_auc(pd.Series([1, 3, 2, 4, np.nan, 2.5, 1.5, np.nan]), y, "numeric") == 0.8125


def test_near_pure_values_need_many_leads_and_a_surprising_rate() -> None:
    from mqlscore.leakguard import LeakThresholds

    t = LeakThresholds()
    base = ["a"] * 200 + ["won"] * 40 + ["dq"] * 60 + ["tiny"] * 5
    converted = np.r_[np.arange(200) % 4 == 0, np.ones(40), np.zeros(60), np.ones(5)]
    levels = lead_levels(pd.Series(base, dtype=object), "categorical", t.min_leads)
    assert set(levels) == {"a", "won", "dq", "(rare values)"}
    found = {p.value: (p.leads, p.sql_rate) for p in pure_values(levels, converted, t)}
    # 'won': 40 leads all SQL; 'dq': 60 leads, none where 60 x 31 % = 19 were expected; 'tiny' too rare
    assert found == {"won": (40, 1.0), "dq": (60, 0.0)}
    # a value that rarely converts at a low base rate is not "near zero": too few SQLs were expected
    low = np.r_[np.zeros(60), np.arange(200) % 20 == 0]
    assert pure_values(lead_levels(pd.Series(["x"] * 60 + ["y"] * 200), "categorical", 20), low,
                       LeakThresholds(min_sqls=5)) == ()
    # being filled at all counts as a value
    filled = pd.Series([None] * 300 + ["p", "q"] * 15, dtype=object)
    conv = np.r_[np.arange(300) % 10 == 0, np.ones(30)]
    found = pure_values(lead_levels(filled, "categorical", 20), conv, t)
    assert [(p.value, p.leads, p.sql_rate) for p in found] == [("(any value)", 30, 1.0)]
    assert found[0].describe() == "any value: 30 leads, 100% SQL"


def test_equals_outcome_by_value_or_by_being_filled() -> None:
    from mqlscore.leakguard import LeakThresholds

    t = LeakThresholds()
    converted = np.r_[np.ones(50), np.zeros(150)].astype(bool)
    yes_no = lead_levels(pd.Series(np.where(converted, "yes", "no")), "categorical", 20)
    assert equals_outcome(yes_no, converted, t) == ("'yes'", 1.0, 1.0)
    ids = pd.Series([f"s{i}" if c else None for i, c in enumerate(converted)], dtype=object)
    which, precision, recall = equals_outcome(lead_levels(ids, "categorical", 20), converted, t)
    assert (which, precision, recall) == ("being filled", 1.0, 1.0)
    # 90 % agreement is strong but not "the outcome"
    noisy = converted.copy()
    noisy[:5] = False
    assert equals_outcome(lead_levels(pd.Series(np.where(noisy, "yes", "no")), "categorical", 20),
                          converted, t)[0] is None


def test_open_closed_pattern() -> None:
    closed = np.r_[np.ones(100), np.zeros(100)].astype(bool)
    levels = pd.Series(["closed won"] * 90 + ["(missing)"] * 10 + ["working"] * 5 + ["(missing)"] * 95)
    filled_closed, filled_open, shift = open_closed_pattern(levels, closed, 30)
    assert (filled_closed, filled_open) == (0.9, 0.05) and shift == pytest.approx(0.9)
    assert open_closed_pattern(levels, np.r_[np.ones(190), np.zeros(10)].astype(bool), 30) == (None, None, None)


def _tiny_crm(extra: dict[str, list]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """400 leads: 100 SQL, 100 disqualified, 200 open; four fitting snapshots each."""
    n = 400
    ids = [f"L{i:03d}" for i in range(n)]
    leads = pd.DataFrame({"lead_id": ids, "created_at": pd.Timestamp("2025-01-01", tz="UTC"), **extra})
    outcomes = pd.DataFrame({
        "lead_id": ids[:200],
        "sql_at": [pd.Timestamp("2025-03-01", tz="UTC")] * 100 + [pd.NaT] * 100,
        "disqualified_at": [pd.NaT] * 100 + [pd.Timestamp("2025-03-01", tz="UTC")] * 100,
    })
    snapshots = pd.DataFrame({"lead_id": np.repeat(ids, 4),
                              "label": np.repeat(np.r_[np.ones(100), np.zeros(300)], 4).astype(int)})
    return leads, snapshots, outcomes


def test_the_guard_decides_stop_warn_allow_and_exclude() -> None:
    rng = np.random.default_rng(3)
    n = 400
    extra = {
        "Stage": ["won"] * 100 + ["lost"] * 100 + ["open"] * 200,  # the outcome by another name: stop
        "segment": list(rng.choice(["a", "b", "c"], n)),  # a genuine lead fact: nothing
        "Rating": list(rng.choice(["hot", "cold"], n)),  # a disposition's name alone: warn
        "referral": ["partner"] * 30 + list(rng.choice(["web", "ads"], n - 30)),  # near-pure alone: warn
        "deal_size": [1000.0] * 100 + [np.nan] * 300,  # filled only for SQLs, excluded by the config
    }
    leads, snapshots, outcomes = _tiny_crm(extra)
    as_of = pd.Timestamp("2025-06-01", tz="UTC")
    guard = LeakGuard(allow=(), exclude=("Deal Size",)).fit(leads, snapshots, outcomes, as_of)
    by_name = {c.column: c for c in guard.report_.columns}
    assert {k: (c.level, c.decision) for k, c in by_name.items()} == {
        "Stage": ("stop", "stopped"), "segment": ("none", "kept"), "Rating": ("warn", "warned"),
        "referral": ("warn", "warned"), "deal_size": ("stop", "excluded")}
    assert by_name["Stage"].auc == pytest.approx(1.0)
    assert by_name["Rating"].evidence == ("its name reads like an outcome or a sales disposition (rating)",)
    assert by_name["referral"].pure_values[0].value == "partner"
    with pytest.raises(LeakingColumns) as info:
        guard.check()
    message = str(info.value)
    assert "1 column(s)" in message and "- 'Stage': alone it separates SQLs from the rest with ROC-AUC 1.000" in message
    assert "deal_size" not in message and "segment" not in message
    # allowed: kept and still reported with its evidence
    allowed = LeakGuard(allow=("stage", "Stage Name"), exclude=("Deal Size",)).fit(leads, snapshots, outcomes, as_of)
    report = allowed.check()
    stage = next(c for c in report.columns if c.column == "Stage")
    assert stage.decision == "allowed" and stage.level == "stop" and stage.evidence == by_name["Stage"].evidence
    assert {c.column for c in report.reported} == {"Stage", "Rating", "referral", "deal_size"}
    assert report.notes == ("features.allow_columns / --allow-column: 'Stage Name' matches no lead column (names "
                            "match ignoring case, spaces, '_' and '-')",)
    assert report.warnings()[0].startswith("Column 'Rating': its name reads like") and \
        any(w.startswith("Column 'Stage':") and w.endswith("(kept: allowed deliberately)") for w in report.warnings())


def test_values_are_shown_without_e_mail_addresses() -> None:
    leads, snapshots, outcomes = _tiny_crm({"rep": ["ann.lee@vendor.com"] * 100 + ["bob"] * 300})
    guard = LeakGuard().fit(leads, snapshots, outcomes, pd.Timestamp("2025-06-01", tz="UTC"))
    (rep,) = guard.report_.columns
    assert rep.decision == "stopped" and "equals the outcome: (an e-mail address) picks out" in rep.evidence[1]
    assert "@" not in " ".join(rep.evidence)


def test_an_empty_fitting_period_measures_nothing_and_raises_nothing() -> None:
    leads, snapshots, outcomes = _tiny_crm({"Stage": ["won"] * 100 + ["lost"] * 100 + ["open"] * 200})
    report = LeakGuard().fit(leads, snapshots.iloc[:0], outcomes, pd.Timestamp("2025-06-01", tz="UTC")).check()
    (stage,) = report.columns
    assert stage.auc is None and stage.pure_values == () and stage.filled_closed is None
    assert stage.decision == "warned" and report.fit_leads == 0  # only the name remains


def test_the_report_section_says_what_was_decided(tmp_path: Path) -> None:
    y = np.r_[np.ones(20), np.zeros(80)]
    ev = evaluate_model("scorecard", y, np.linspace(0.01, 0.9, 100), np.linspace(1, 99, 100),
                        np.array(["D"] * 100), np.linspace(0.01, 0.9, 100) > 0.5)
    section = LeakSection(checked=4, columns=(
        SuspectColumn("Tags", "allowed", ("alone it separates SQLs from the rest with ROC-AUC 0.981",)),
        SuspectColumn("Rating", "warned", ("its name reads like an outcome or a sales disposition (rating)",)),
        SuspectColumn("deal|size", "excluded", ()),
    ), notes=("features.exclude_columns: 'x' matches no lead column",))
    context = ReportContext(champion="scorecard", leaks=section)
    report = write_evaluation_report(tmp_path, [ev], context).report_md.read_text()
    card = write_model_card(tmp_path, [ev], context).read_text()
    for text in (report, card):
        part = text.split("## Columns that look like they know the outcome", 1)[1].split("\n## ", 1)[0]
        assert "measured the 4 extra lead column(s)" in part
        assert "| Tags | allowed: kept deliberately" in part and "ROC-AUC 0.981" in part
        assert "| Rating | warned: kept as a feature" in part
        assert "| deal\\|size | excluded (features.exclude_columns): not a feature | none found |" in part
        assert "- features.exclude_columns: 'x' matches no lead column" in part
    empty = write_evaluation_report(tmp_path / "b", [ev], ReportContext(leaks=LeakSection(checked=2)))
    assert "None of them looks like it knows the outcome." in empty.report_md.read_text()
    assert "know the outcome" not in write_evaluation_report(tmp_path / "c", [ev]).report_md.read_text()
