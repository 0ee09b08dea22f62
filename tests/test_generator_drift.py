"""Changes of the synthetic world (drift) and exports at earlier dates (``mqlscore generate --change``,
``--also-export-at``): the world before a change is untouched, each change does what it says, the
truth follows the changed world, and an earlier export is the main one cut at its date."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from mqlscore.cli import app
from mqlscore.config import GeneratorConfig, SignalWeightChange, parse_change
from mqlscore.contract import load_folder
from mqlscore.synthetic import earlier_dirs, generate_export, read_changes

TABLES = ("leads", "activities", "outcomes")
BASE = GeneratorConfig(n_leads=3000, seed=5, mc_sims=10, history_days=400)  # export 2026-09-30, start 2025-08-26
CHANGE_AT = pd.Timestamp("2026-05-01", tz="UTC")
EXPORT_AT = pd.Timestamp("2026-09-30", tz="UTC")
DRIFT = (
    "2026-05-01:channel_volume:paid_search=4",
    "2026-05-01:channel_volume:list_import=0.25",
    "2026-05-01:signal_weight:webinar_attended=0",
    "2026-05-01:org_fit:payer=-1.5",
)
EARLIER = ("2026-07-01", "2026-03-01")  # after the change, and before it with the change in its horizon
AT_EXPORT = ("2026-09-30:signal_weight:unsubscribe=0", "2026-09-30:org_fit:payer=-1")


def _config(changes: tuple[str, ...] = (), also: tuple[str, ...] = ()) -> GeneratorConfig:
    return GeneratorConfig(**{**BASE.model_dump(), "changes": [parse_change(c).model_dump() for c in changes],
                              "also_export_at": list(also)})


def _read(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False, na_values=[""])
            for name in TABLES}


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same seed three ways: no change, changes before the export (with two earlier exports),
    and changes dated at the export time (they reach only the horizon, hence the oracle)."""
    root = tmp_path_factory.mktemp("drift")
    out = {}
    for name, config in (("base", _config()), ("drift", _config(DRIFT, EARLIER)), ("at_export", _config(AT_EXPORT))):
        result = generate_export(config, root / name)
        out[name], out[f"{name}_truth"] = result.out, result.truth_out
    return out


def test_history_before_the_first_change_is_the_world_without_changes(worlds: dict[str, Path]) -> None:
    base, drift = _read(worlds["base"]), _read(worlds["drift"])
    when = {"leads": ["created_at"], "activities": ["occurred_at"], "outcomes": ["sql_at", "disqualified_at"]}
    for name in TABLES:
        before = []
        for frame in (base[name], drift[name]):
            dated = np.logical_or.reduce([(_utc(frame[col]) < CHANGE_AT).to_numpy() for col in when[name]])
            before.append(frame[dated].reset_index(drop=True))
        assert len(before[0]) > 500, name
        pd.testing.assert_frame_equal(before[0], before[1], obj=name)  # row for row, in the same order
    # and after it, the world did change
    assert len(drift["leads"]) != len(base["leads"])


def test_a_change_dated_at_the_export_leaves_the_export_byte_identical(worlds: dict[str, Path]) -> None:
    for name in TABLES:
        assert (worlds["base"] / f"{name}.csv").read_bytes() == (worlds["at_export"] / f"{name}.csv").read_bytes()
    assert (worlds["base_truth"] / "leads_truth.csv").read_bytes() == \
        (worlds["at_export_truth"] / "leads_truth.csv").read_bytes()
    # ... but not its truth: the oracle's horizon lies after the change
    assert (worlds["base_truth"] / "oracle.csv").read_bytes() != (worlds["at_export_truth"] / "oracle.csv").read_bytes()


def _weekly(leads: pd.DataFrame, source: str | list[str], start: pd.Timestamp, end: pd.Timestamp) -> float:
    sources = [source] if isinstance(source, str) else source
    created = _utc(leads["created_at"])
    hit = leads["lead_source"].isin(sources) & (created >= start) & (created < end)
    return hit.sum() / ((end - start) / pd.Timedelta(days=7))


def test_a_channel_volume_change_multiplies_that_channel_and_leaves_the_others(worlds: dict[str, Path]) -> None:
    base, drift = _read(worlds["base"])["leads"], _read(worlds["drift"])["leads"]
    start = EXPORT_AT - pd.Timedelta(days=BASE.history_days)
    ratio = {}
    for frame, world in ((base, "base"), (drift, "drift")):
        for source in ("paid_search", "list_import"):
            ratio[world, source] = (_weekly(frame, source, CHANGE_AT, EXPORT_AT)
                                    / _weekly(frame, source, start, CHANGE_AT))
    assert 3.0 < ratio["drift", "paid_search"] < 5.0, ratio
    assert 0.1 < ratio["drift", "list_import"] < 0.45, ratio
    assert 0.7 < ratio["base", "paid_search"] < 1.4 and 0.6 < ratio["base", "list_import"] < 1.6, ratio
    others = sorted(set(base["lead_source"].dropna()) - {"paid_search", "list_import"})
    after = [_weekly(f, others, CHANGE_AT, EXPORT_AT) for f in (base, drift)]
    assert after[1] == pytest.approx(after[0], rel=0.08)  # the same leads; only which sources are blank differs
    # every lead of the other channels is still there; the new ones came through paid search
    kept = base[base["lead_source"].notna() & ~base["lead_source"].isin(["paid_search", "list_import"])]
    assert set(kept["lead_id"]) <= set(drift["lead_id"])
    new = drift[~drift["lead_id"].isin(base["lead_id"])]
    assert len(new) > 100 and (_utc(new["created_at"]) >= CHANGE_AT).all()
    assert set(new["lead_source"].dropna()) == {"paid_search"}
    gone = base[~base["lead_id"].isin(drift["lead_id"])]
    assert len(gone) > 20 and set(gone["lead_source"].dropna()) == {"list_import"}
    assert (_utc(gone["created_at"]) >= CHANGE_AT).all()


def _oracle_ratio(worlds: dict[str, Path], ids: pd.Index) -> float:
    """Mean true P(SQL in horizon) of these open leads with the changes at the export, over without."""
    p = [pd.read_csv(worlds[f"{w}_truth"] / "oracle.csv").set_index("lead_id").loc[ids, "p_sql_horizon"].mean()
         for w in ("base", "at_export")]
    return p[1] / p[0]


def _open_leads(worlds: dict[str, Path]) -> tuple[pd.DataFrame, pd.Index, pd.Index, pd.Index]:
    """The open leads' true probabilities without changes, and which of them unsubscribed or are payers."""
    t = _read(worlds["base"])
    oracle = pd.read_csv(worlds["base_truth"] / "oracle.csv").set_index("lead_id")
    unsubscribed = oracle.index.intersection(t["activities"].query("activity_type == 'unsubscribe'")["lead_id"])
    org = t["leads"].set_index("lead_id")["org_type"].reindex(oracle.index)
    return oracle, unsubscribed, oracle.index[org == "payer"], oracle.index[org.notna() & (org != "payer")]


def test_a_signal_weight_of_zero_stops_the_signal_from_mattering(worlds: dict[str, Path]) -> None:
    """Same leads, same state at the export (the change is dated at it): only the truth of the horizon
    differs. An unsubscribe (weight -1.5, half-life 180 days) no longer holds a lead back: the true
    probability of those who unsubscribed rises to about that of the others; the others' barely moves."""
    oracle, unsubscribed, _, other = _open_leads(worlds)
    with_signal, without = other.intersection(unsubscribed), other.difference(unsubscribed)
    assert len(with_signal) > 30 and len(without) > 1000
    p = oracle["p_sql_horizon"]
    assert p[with_signal].mean() < 0.6 * p[without].mean()  # without the change it holds them back
    assert _oracle_ratio(worlds, with_signal) > 1.5  # about 1.85 at two seeds
    assert 0.92 < _oracle_ratio(worlds, without) < 1.08  # Monte Carlo noise: within 3 % at two seeds


def test_an_org_fit_change_moves_that_org_types_conversion_its_way(worlds: dict[str, Path]) -> None:
    # in the truth: the payers' true probability falls, the others' barely moves
    _, unsubscribed, payer, other = _open_leads(worlds)
    assert len(payer) > 100
    assert _oracle_ratio(worlds, payer.difference(unsubscribed)) < 0.75  # 0.53 to 0.59 at two seeds
    assert 0.92 < _oracle_ratio(worlds, other.difference(unsubscribed)) < 1.08
    # in what happened: after the change, payers make a smaller share of the SQLs (less than the hazard's
    # factor exp(-1.5) says: a lead far along converts anyway; 0.29 to 0.5 of the share at two seeds)
    share = {}
    for world in ("base", "drift"):
        t = _read(worlds[world])
        sql = t["outcomes"].dropna(subset=["sql_at"])
        sql = sql[_utc(sql["sql_at"]) >= CHANGE_AT].merge(t["leads"][["lead_id", "org_type"]], on="lead_id")
        share[world] = (sql["org_type"] == "payer").sum() / sql["org_type"].notna().sum()
    assert share["drift"] < 0.8 * share["base"], share


def test_the_oracle_of_a_changed_world_is_calibrated_against_its_own_outcomes(worlds: dict[str, Path]) -> None:
    for truth in (worlds["drift_truth"], worlds["at_export_truth"]):
        oracle = pd.read_csv(truth / "oracle.csv")
        p, y = oracle["p_sql_horizon"].to_numpy(), oracle["realised_sql"].to_numpy(bool)
        se = np.sqrt(p.mean() * (1 - p.mean()) / len(p))
        assert abs(y.mean() - p.mean()) < 3.5 * se + 0.005, (truth.name, p.mean(), y.mean())


def test_an_earlier_export_is_the_main_export_cut_at_its_date(worlds: dict[str, Path]) -> None:
    main = _read(worlds["drift"])
    for day in EARLIER:
        at = pd.Timestamp(day, tz="UTC")
        folder, truth = earlier_dirs(worlds["drift"], worlds["drift_truth"], day)
        assert folder == worlds["drift"] / "earlier" / day and truth == worlds["drift_truth"] / "earlier" / day
        cut = _read(folder)
        leads = main["leads"][_utc(main["leads"]["created_at"]) < at].reset_index(drop=True)
        pd.testing.assert_frame_equal(cut["leads"], leads)
        acts = main["activities"][_utc(main["activities"]["occurred_at"]) < at].reset_index(drop=True)
        pd.testing.assert_frame_equal(cut["activities"], acts)
        out = main["outcomes"][main["outcomes"]["lead_id"].isin(leads["lead_id"])].copy()
        listed_open = out["sql_at"].isna() & out["disqualified_at"].isna()
        for col in ("sql_at", "disqualified_at"):
            out[col] = out[col].where(_utc(out[col]) < at)
        out = out[listed_open | out["sql_at"].notna() | out["disqualified_at"].notna()].reset_index(drop=True)
        pd.testing.assert_frame_equal(cut["outcomes"], out)
        # it meets the contract as of its date, and nothing in it is dated at or after it
        dataset = load_folder(folder, as_of=at)
        assert not dataset.report.errors and len(dataset.leads) == len(leads) > 300
        assert _utc(leads["created_at"]).max() < at and _utc(acts["occurred_at"]).max() < at
        assert (at - _utc(acts["occurred_at"]).max()) < pd.Timedelta(days=2)
        # its own truth: as of its date, an oracle for exactly the leads open then
        assert json.loads((truth / "truth.json").read_text())["export_at"] == day + "T00:00:00Z"
        oracle = pd.read_csv(truth / "oracle.csv")
        closed = set(out.dropna(subset=["sql_at"])["lead_id"]) | set(out.dropna(subset=["disqualified_at"])["lead_id"])
        assert set(oracle["lead_id"]) == set(leads["lead_id"]) - closed
        assert set(pd.read_csv(truth / "leads_truth.csv")["lead_id"]) == set(leads["lead_id"])
        p, y = oracle["p_sql_horizon"].to_numpy(), oracle["realised_sql"].to_numpy(bool)
        assert abs(y.mean() - p.mean()) < 3.5 * np.sqrt(p.mean() * (1 - p.mean()) / len(p)) + 0.005


def test_the_truth_folder_records_the_changes_and_the_exports(worlds: dict[str, Path]) -> None:
    record = read_changes(worlds["drift_truth"])
    assert [c["spec"] for c in record.changes] == list(DRIFT)
    assert [c["id"] for c in record.changes] == [1, 2, 3, 4]
    assert {c["at"] for c in record.changes} == {"2026-05-01T00:00:00Z"}
    paid, listed, webinar, payer = record.changes
    assert paid["kind"] == "channel_volume" and paid["channel"] == "paid_search" and paid["factor"] == 4
    assert paid["touched"]["column"] == "lead_source" and paid["touched"]["leads_added_before_export"] > 100
    assert paid["touched"]["expected_leads_per_week_after"] == pytest.approx(
        4 * paid["touched"]["expected_leads_per_week_before"], rel=1e-3)
    assert listed["touched"]["leads_removed_before_export"] > 20
    assert webinar["touched"] == {"activity_type": "webinar_attended", "page_category": None, "weight_before": 0.55,
                                  "weight_after": 0.0, "half_life_days": 45}
    assert payer["touched"]["column"] == "org_type" and payer["touched"]["value"] == "payer"
    assert payer["touched"]["fit_weight_after"] == pytest.approx(payer["touched"]["fit_weight_before"] - 1.5)
    main = record.export_at(EXPORT_AT)
    assert main.role == "main" and main.export == worlds["drift"].resolve()
    assert main.truth == worlds["drift_truth"].resolve() and main.changes_before == (1, 2, 3, 4)
    later, earlier = record.export_at("2026-07-01"), record.export_at("2026-03-01")
    assert later.export == (worlds["drift"] / "earlier" / "2026-07-01").resolve()
    assert later.changes_before == (1, 2, 3, 4) and later.changes_in_horizon == ()
    assert earlier.changes_before == () and earlier.changes_in_horizon == (1, 2, 3, 4)
    # the earlier truth folders say the same, their paths relative to themselves
    again = read_changes(earlier.truth)
    assert again.changes == record.changes and [e.export for e in again.exports] == [e.export for e in record.exports]
    # a world without changes says so
    quiet = read_changes(worlds["base_truth"])
    assert quiet.changes == [] and [e.role for e in quiet.exports] == ["main"]
    at_export = read_changes(worlds["at_export_truth"]).exports[0]
    assert at_export.changes_before == () and at_export.changes_in_horizon == (1, 2)


def test_changes_in_the_config_are_typed_and_checked() -> None:
    change = parse_change(" 2026-06-01 : signal_weight : webinar_attended = 0 ")
    assert isinstance(change, SignalWeightChange) and change.factor == 0 and change.spec() == \
        "2026-06-01:signal_weight:webinar_attended=0"
    config = GeneratorConfig.model_validate({"changes": [
        {"at": "2026-06-01", "kind": "channel_volume", "channel": "paid_search", "factor": 4},
        {"at": "2026-06-01", "kind": "org_fit", "org_type": "payer", "shift": -1.0}]})
    assert [c.spec() for c in config.changes] == ["2026-06-01:channel_volume:paid_search=4",
                                                 "2026-06-01:org_fit:payer=-1"]
    with pytest.raises(ValidationError, match="the lead sources are: organic_search, paid_search"):
        GeneratorConfig.model_validate({"changes": [{"at": "2026-06-01", "kind": "channel_volume",
                                                     "channel": "tv", "factor": 2}]})
    with pytest.raises(ValidationError, match="before the end of the horizon"):
        GeneratorConfig.model_validate({"changes": [{"at": "2030-01-01", "kind": "org_fit", "org_type": "payer",
                                                     "shift": 1}]})
    with pytest.raises(ValidationError, match="before the export date"):
        GeneratorConfig(also_export_at=["2026-09-30"])
    with pytest.raises(ValueError, match="the generator's signals are: email_open"):
        generate_export(GeneratorConfig(n_leads=50, changes=[parse_change("2026-06-01:signal_weight:tv_ad=0")]),
                        Path("/nonexistent/never-written"))


def _generate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["generate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.replace("│", " ").split())  # typer boxes and wraps errors


@pytest.mark.parametrize(("args", "expected"), [
    (["--change", "2026-06-01"], "'2026-06-01' is not a change: expected DATE:KIND:NAME=VALUE"),
    (["--change", "2026-06-01:signal_weight:webinar_live=0"],
     "unknown signal 'webinar_live'; the generator's signals are: email_open"),
    (["--change", "2026-06-01:channel_volume:paid=4"], "unknown channel 'paid'; the lead sources are:"),
    (["--change", "2026-06-01:org_fit:hospitals=-1"], "unknown org type 'hospitals'; the org types are:"),
    (["--change", "2026-06-01:volume:paid_search=4"], "unknown kind 'volume'; the kinds are: channel_volume"),
    (["--change", "2026-02-30:org_fit:payer=-1"], "'2026-02-30' is not a date"),
    (["--change", "2026-06-01:org_fit:payer=lots"], "'lots' is not a number"),
    (["--change", "2026-06-01:channel_volume:paid_search=-2"], "greater than or equal to 0"),
    (["--change", "2019-06-01:org_fit:payer=1"], "must lie after the first simulated day"),
    (["--also-export-at", "2027-01-01"], "Invalid value for --also-export-at"),
    (["--also-export-at", "July"], "'July' is not a date (YYYY-MM-DD)"),
])
def test_bad_changes_are_usage_errors_naming_what_is_valid(tmp_path: Path, args: list[str], expected: str) -> None:
    code, output = _generate("--out", str(tmp_path / "x"), "--leads", "50", *args)
    assert code == 2, output
    assert expected in output and "Traceback" not in output
    assert not (tmp_path / "x").exists()


def test_the_command_line_writes_the_changed_world_and_the_earlier_export(tmp_path: Path) -> None:
    code, output = _generate("--out", str(tmp_path / "exp"), "--leads", "400", "--mc-sims", "10",
                             "--change", "2026-06-01:signal_weight:webinar_attended=0",
                             "--change", "2026-06-01:channel_volume:paid_search=4",
                             "--also-export-at", "2026-07-01")
    assert code == 0, output
    assert "2026-06-01:signal_weight:webinar_attended=0" in output and "as exported at 2026-07-01" in output
    record = read_changes(tmp_path / "exp-truth")
    assert [c["kind"] for c in record.changes] == ["signal_weight", "channel_volume"]
    assert {p.name for p in (tmp_path / "exp" / "earlier" / "2026-07-01").iterdir()} == {
        f"{t}.csv" for t in TABLES}
    assert (tmp_path / "exp-truth" / "earlier" / "2026-07-01" / "oracle.csv").exists()
    assert record.export_at("2026-07-01").export == (tmp_path / "exp" / "earlier" / "2026-07-01").resolve()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_changed_world_is_reproducible_wherever_it_is_written(tmp_path: Path) -> None:
    config = GeneratorConfig(n_leads=300, seed=2, mc_sims=10, history_days=200, changes=[
        parse_change("2026-06-01:channel_volume:webinar=3"), parse_change("2026-07-01:signal_weight:page_pricing=0")],
        also_export_at=["2026-08-01"])
    a = generate_export(config, tmp_path / "a")
    b = generate_export(config, tmp_path / "b", truth_out=tmp_path / "elsewhere" / "truth")
    assert _files(a.out) == _files(b.out) and set(_files(a.out)) >= {"earlier/2026-08-01/leads.csv"}
    truth_a, truth_b = _files(a.truth_out), _files(b.truth_out)
    for name in ("changes.json", "earlier/2026-08-01/changes.json"):  # they say where the main export is
        assert truth_a.pop(name) != truth_b.pop(name)
    assert truth_a == truth_b and set(truth_a) >= {"oracle.csv", "earlier/2026-08-01/oracle.csv"}
    for result in (a, b):  # both find their exports from the truth alone
        for truth in (result.truth_out, result.earlier[0].truth_out):
            record = read_changes(truth)
            assert [e.export for e in record.exports] == [result.out.resolve(), result.earlier[0].out.resolve()]
            assert [e.truth for e in record.exports] == [result.truth_out.resolve(),
                                                        result.earlier[0].truth_out.resolve()]


def test_errors_and_parquet_work_with_changes_and_earlier_exports(tmp_path: Path) -> None:
    config = GeneratorConfig(n_leads=300, seed=3, mc_sims=10, history_days=200, output_format="parquet",
                             with_errors=True, changes=[parse_change("2026-06-01:org_fit:hospital=-1")],
                             also_export_at=["2026-08-01"])
    result = generate_export(config, tmp_path / "pq")
    folder = result.earlier[0].out
    assert sorted(p.name for p in folder.iterdir()) == [f"{t}.parquet" for t in sorted(TABLES)]
    dataset = load_folder(folder, as_of="2026-08-01", lenient=True)
    assert len(dataset.rejects) > 0 and len(dataset.leads) > 100
    assert dataset.leads["created_at"].max() < pd.Timestamp("2026-08-01", tz="UTC")
