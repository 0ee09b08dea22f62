"""Time in the feature code: any timestamp resolution gives the same features, and one
odd but valid date (the contract takes 1900-2199) never changes another lead's features
or score (issue 11, defect 3).

The feature code once counted time in int64 nanoseconds, whose range is 292 years
either side of 1970: a lead created in 1900 beside an as-of time in 2199 made the
event index overflow and emptied every other lead's activity.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.batch import score_open_leads
from mqlscore.cli import app
from mqlscore.contract import Dataset, load_folder
from mqlscore.features import open_leads_at
from mqlscore.scoring import ScoringModel
from support import quick_scorecard

UNITS = ("s", "ms", "us", "ns")
LATE_AS_OF = pd.Timestamp("2199-12-31T23:00:00Z")


@pytest.fixture(scope="module")
def export(small_export: Path) -> Path:
    return small_export


@pytest.fixture(scope="module")
def dataset(export: Path) -> Dataset:
    return load_folder(export)


@pytest.fixture(scope="module")
def model(dataset: Dataset) -> ScoringModel:
    return quick_scorecard(dataset)


def in_unit(values: pd.Series, unit: str, tz: bool = True) -> pd.Series:
    out = values.astype(f"datetime64[{unit}, UTC]")
    return out if tz else out.dt.tz_localize(None)


def assert_same_features(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("tz", [True, False], ids=["utc", "naive"])
def test_every_timestamp_resolution_gives_identical_features(dataset: Dataset, model: ScoringModel, unit: str,
                                                            tz: bool) -> None:
    # Parquet files and pandas 3 keep a column's unit; the contract's is microseconds.
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    expected = model.builder.transform(dataset.leads, dataset.activities, rows)
    leads = dataset.leads.assign(created_at=in_unit(dataset.leads["created_at"], unit, tz))
    activities = dataset.activities.assign(occurred_at=in_unit(dataset.activities["occurred_at"], unit, tz))
    snapshots = rows.assign(as_of=in_unit(rows["as_of"].astype("datetime64[us, UTC]"), unit, tz))
    assert_same_features(model.builder.transform(leads, activities, snapshots), expected)


def test_mixed_resolutions_across_columns_give_identical_features(dataset: Dataset, model: ScoringModel) -> None:
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    expected = model.builder.transform(dataset.leads, dataset.activities, rows)
    leads = dataset.leads.assign(created_at=in_unit(dataset.leads["created_at"], "s"))
    activities = dataset.activities.assign(occurred_at=in_unit(dataset.activities["occurred_at"], "ns"))
    assert_same_features(model.builder.transform(leads, activities, rows.assign(as_of=dataset.as_of)), expected)


def with_created_at(export: Path, tmp_path: Path, lead_id: str, when: str) -> Path:
    """A copy of the export where one lead was created at ``when``."""
    folder = tmp_path / "odd"
    folder.mkdir()
    for name in ("activities", "outcomes"):
        (folder / f"{name}.csv").write_bytes((export / f"{name}.csv").read_bytes())
    leads = pd.read_csv(export / "leads.csv", dtype=str, keep_default_na=False)
    leads.loc[leads["lead_id"] == lead_id, "created_at"] = when
    leads.to_csv(folder / "leads.csv", index=False)
    return folder


@pytest.mark.parametrize("when", ["1900-01-01T00:00:00Z", "1901-01-01", "1907-06-30T12:00:00+02:00"])
@pytest.mark.parametrize("as_of", ["export", "2199-12-31T23:00:00Z"])
def test_one_odd_but_valid_created_at_leaves_every_other_lead_unchanged(
        export: Path, dataset: Dataset, model: ScoringModel, tmp_path: Path, when: str, as_of: str) -> None:
    at = dataset.as_of if as_of == "export" else pd.Timestamp(as_of)
    before = score_open_leads(model, load_folder(export, as_of=at)).set_index("lead_id")
    victim = str(before.index[0])
    odd = load_folder(with_created_at(export, tmp_path, victim, when), as_of=at)
    assert odd.report.ok
    after = score_open_leads(model, odd).set_index("lead_id")
    others = before.index.drop(victim)
    assert set(after.index) - {victim} == set(others)
    pd.testing.assert_frame_equal(after.loc[others], before.loc[others], check_exact=True)
    # ... and so are their features
    rows = pd.DataFrame({"lead_id": others, "as_of": at})
    assert_same_features(model.builder.transform(odd.leads, odd.activities, rows),
                         model.builder.transform(dataset.leads, dataset.activities, rows))


def test_an_activity_in_1900_leaves_other_leads_features_unchanged(dataset: Dataset, model: ScoringModel) -> None:
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    rows = pd.DataFrame({"lead_id": rows["lead_id"], "as_of": LATE_AS_OF})
    victim = rows["lead_id"].iloc[0]
    old = pd.DataFrame({"lead_id": [victim], "occurred_at": pd.Series([pd.Timestamp("1900-01-01T00:00:01Z")],
                                                                        dtype="datetime64[us, UTC]"),
                        "activity_type": ["page_view"], "detail": ["/pricing"]})
    leads = dataset.leads.copy()
    leads.loc[leads["lead_id"] == victim, "created_at"] = pd.Timestamp("1900-01-01", tz="UTC")
    activities = pd.concat([dataset.activities, old], ignore_index=True)
    others = (rows["lead_id"] != victim).to_numpy()
    assert_same_features(model.builder.transform(leads, activities, rows[others]),
                         model.builder.transform(dataset.leads, dataset.activities, rows[others]))


def test_lead_age_across_three_centuries_is_exact(model: ScoringModel, dataset: Dataset) -> None:
    leads = dataset.leads.head(2).copy()
    leads["created_at"] = pd.Series(pd.to_datetime(["1900-01-01", "2199-12-30"], utc=True),
                                    dtype="datetime64[s, UTC]").to_numpy()
    rows = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": pd.Timestamp("2199-12-31", tz="UTC")})
    ages = model.builder.transform(leads, dataset.activities.head(0), rows)["fit__lead_age_days"].to_numpy()
    expected = (pd.Timestamp("2199-12-31") - pd.to_datetime(["1900-01-01", "2199-12-30"])).days
    assert ages.tolist() == pytest.approx(list(expected), rel=1e-6)


@pytest.mark.parametrize("as_of", ["9999-12-31", "1899-12-31T23:59:59Z", "2200-01-01"])
def test_an_as_of_outside_1900_to_2199_is_refused_plainly(export: Path, tmp_path: Path, as_of: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no MLflow store is ever made in the working folder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for command in (["score", "--data", str(export), "--out", str(tmp_path / "s.csv"), "--as-of", as_of],
                    ["validate", str(export), "--as-of", as_of]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        words = " ".join(result.output.replace("│", " ").split())  # the error box wraps long lines
        assert f"as-of time '{as_of}' is outside the years 1900-2199" in words
        assert "Traceback" not in result.output
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "mlflow.db").exists()


def test_the_contract_refuses_an_as_of_outside_its_years(dataset: Dataset, export: Path) -> None:
    with pytest.raises(ValueError, match="outside the years 1900-2199"):
        load_folder(export, as_of=pd.Timestamp("9999-12-31", tz="UTC"))
