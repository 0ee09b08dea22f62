"""The generator's export follows the contract and its truth is coherent."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import GeneratorConfig
from mqlscore.contract import CANONICAL_ACTIVITY_TYPES
from mqlscore.synthetic import default_truth_dir, generate_export

HIGH_INTENT = {"demo_request", "contact_sales", "baa_request", "security_review", "sandbox_signup"}


def _read(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(folder / f"{name}.csv", dtype=str) for name in ("leads", "activities", "outcomes")}


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _small(seed: int) -> GeneratorConfig:
    return GeneratorConfig(n_leads=300, seed=seed, mc_sims=10, history_days=200)


def test_same_seed_gives_the_same_export_and_truth(tmp_path: Path) -> None:
    a, b, c = (generate_export(_small(seed), tmp_path / name) for seed, name in ((5, "a"), (5, "b"), (6, "c")))
    assert _digest(a.out) == _digest(b.out)
    assert _digest(a.truth_out) == _digest(b.truth_out)
    assert _digest(a.out) != _digest(c.out)


def test_truth_goes_beside_the_export_not_inside(tmp_path: Path) -> None:
    result = generate_export(_small(1), tmp_path / "exp")
    assert result.truth_out == default_truth_dir(tmp_path / "exp") == tmp_path / "exp-truth"
    assert sorted(p.name for p in result.out.iterdir()) == ["activities.csv", "leads.csv", "outcomes.csv"]
    assert {"truth.json", "oracle.csv", "leads_truth.csv"} <= {p.name for p in result.truth_out.iterdir()}


def test_export_has_contract_columns_and_realistic_mess(demo_export: Path) -> None:
    t = _read(demo_export)
    leads, acts = t["leads"], t["activities"]
    assert {"lead_id", "created_at", "account_id", "email", "job_title", "org_type", "employee_count",
            "bed_count", "covered_lives", "country", "state", "ehr_vendor", "lead_source"} <= set(leads.columns)
    assert list(acts.columns) == ["lead_id", "occurred_at", "activity_type", "detail"]
    assert list(t["outcomes"].columns) == ["lead_id", "sql_at", "disqualified_at"]
    assert leads["lead_id"].is_unique and len(leads) == 6_000
    # every canonical type occurs, plus one outside the list
    types = set(acts["activity_type"])
    assert set(CANONICAL_ACTIVITY_TYPES) <= types
    assert types - set(CANONICAL_ACTIVITY_TYPES) == {"g2_intent_surge"}
    # mess: missing titles, exact duplicate events, local offsets, free-mail
    assert 0.03 < leads["job_title"].isna().mean() < 0.15
    assert acts.duplicated().sum() > 0
    assert acts["occurred_at"].str.contains(r"[+-]\d\d:\d\d$").mean() > 0.1
    assert leads["email"].str.contains("@gmail.com").any()
    assert _utc(acts["occurred_at"]).notna().all() and _utc(leads["created_at"]).notna().all()
    # page views carry URL paths of the categories that matter
    paths = acts.loc[acts["activity_type"] == "page_view", "detail"].str.lower()
    for needle in ("/pricing", "/security", "/integrations", "/clinical-evidence", "/case-studies", "/blog",
                   "/careers"):
        assert paths.str.contains(needle, regex=False).any(), needle
    assert set(leads["org_type"].dropna()) >= {"health_system", "hospital", "physician_group", "payer",
                                               "employer", "digital_health"}
    assert (leads["country"] != "US").sum() > 0


def test_booth_scans_happen_on_conference_dates(demo_export: Path) -> None:
    acts = _read(demo_export)["activities"]
    scans = acts[acts["activity_type"] == "event_booth_scan"]
    assert len(scans) > 20
    when = _utc(scans["occurred_at"])
    month = when.dt.month
    assert month.isin([2, 3, 6, 10]).all()
    assert scans["detail"].str.match(r"^(HIMSS|HLTH|ViVE|AHIP) \d{4}$").all()


def test_nothing_happens_after_the_export_time(demo_export: Path) -> None:
    t = _read(demo_export)
    truth = json.loads((default_truth_dir(demo_export) / "truth.json").read_text())
    export_at = pd.Timestamp(truth["export_at"])
    assert (_utc(t["activities"]["occurred_at"]) < export_at).all()
    assert (_utc(t["leads"]["created_at"]) < export_at).all()
    out = t["outcomes"]
    for col in ("sql_at", "disqualified_at"):
        assert (_utc(out[col].dropna()) < export_at).all()
    merged = out.merge(t["leads"][["lead_id", "created_at"]], on="lead_id")
    for col in ("sql_at", "disqualified_at"):
        has = merged[col].notna()
        assert (_utc(merged.loc[has, col]) >= _utc(merged.loc[has, "created_at"])).all()


def test_sql_leads_show_more_high_intent_activity_before_it(demo_export: Path) -> None:
    t = _read(demo_export)
    acts = t["activities"].assign(at=lambda d: _utc(d["occurred_at"]))
    out = t["outcomes"]
    sql = out.dropna(subset=["sql_at"]).assign(cut=lambda d: _utc(d["sql_at"]))
    dq = out.dropna(subset=["disqualified_at"]).assign(cut=lambda d: _utc(d["disqualified_at"]))

    def high_intent_per_lead(closed: pd.DataFrame) -> float:
        window = acts.merge(closed[["lead_id", "cut"]], on="lead_id")
        before = window[(window["at"] < window["cut"]) & (window["at"] >= window["cut"] - pd.Timedelta(days=60))]
        return before["activity_type"].isin(HIGH_INTENT).sum() / len(closed)

    assert len(sql) > 300 and len(dq) > 300
    assert high_intent_per_lead(sql) > 3 * high_intent_per_lead(dq)


def test_truth_has_distinct_half_lives_and_covers_every_lead(demo_export: Path) -> None:
    truth_dir = default_truth_dir(demo_export)
    truth = json.loads((truth_dir / "truth.json").read_text())
    half_lives = {s["signal"]: s["half_life_days"] for s in truth["signals"]}
    assert len(set(half_lives.values())) >= 6
    assert half_lives["demo_request"] < half_lives["page_evidence"] < half_lives["unsubscribe"]
    for s in truth["signals"]:
        assert s["weight_lost_per_quarter"] == pytest.approx(1 - 0.5 ** (91.25 / s["half_life_days"]), abs=1e-4)
    leads = _read(demo_export)["leads"]
    lt = pd.read_csv(truth_dir / "leads_truth.csv")
    assert set(lt["lead_id"]) == set(leads["lead_id"])


def test_oracle_covers_exactly_the_leads_open_at_export(demo_export: Path) -> None:
    t = _read(demo_export)
    closed = set(t["outcomes"].dropna(subset=["sql_at"])["lead_id"]) | set(
        t["outcomes"].dropna(subset=["disqualified_at"])["lead_id"])
    open_ids = set(t["leads"]["lead_id"]) - closed
    oracle = pd.read_csv(default_truth_dir(demo_export) / "oracle.csv")
    assert set(oracle["lead_id"]) == open_ids
    assert oracle["p_sql_horizon"].between(0, 1).all()


def test_oracle_is_calibrated_against_simulated_outcomes(demo_export: Path) -> None:
    oracle = pd.read_csv(default_truth_dir(demo_export) / "oracle.csv")
    p, y = oracle["p_sql_horizon"].to_numpy(), oracle["realised_sql"].to_numpy(bool)
    assert len(p) > 2_000
    # overall and per quintile, within 3.5 binomial standard errors
    bins = np.array_split(np.argsort(p), 5)
    for idx in [np.arange(len(p))] + bins:
        expected, observed = p[idx].mean(), y[idx].mean()
        se = np.sqrt(max(expected * (1 - expected), 1e-4) / len(idx))
        assert abs(observed - expected) < 3.5 * se + 0.005, (expected, observed)
    # and it is informative: realised SQLs sit in the top of the ranking
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.75


def test_parquet_output(tmp_path: Path) -> None:
    config = _small(2).model_copy(update={"output_format": "parquet"})
    result = generate_export(config, tmp_path / "pq")
    names = sorted(p.name for p in result.out.iterdir())
    assert names == ["activities.parquet", "leads.parquet", "outcomes.parquet"]
    leads = pd.read_parquet(result.out / "leads.parquet")
    assert len(leads) == 300


def test_with_errors_adds_each_kind_of_invalid_row_the_contract_names(tmp_path: Path) -> None:
    from mqlscore.contract import ContractError, load_folder

    result = generate_export(_small(3).model_copy(update={"with_errors": True}), tmp_path / "bad")
    with pytest.raises(ContractError) as info:
        load_folder(result.out)
    found = {(p.table, p.column, p.message.split(" (")[0]) for p in info.value.report.errors}
    text = str(info.value)
    for table, column, words in (
        ("leads", "lead_id", "duplicate lead_id"),
        ("leads", "created_at", "empty required value"),
        ("leads", "created_at", "unparsable timestamp"),
        ("leads", "employee_count", "negative count"),
        ("activities", "occurred_at", "unparsable timestamp"),
        ("activities", "activity_type", "empty required value"),
        ("outcomes", "sql_at", "before the lead's created_at"),
        ("outcomes", "disqualified_at", "before the lead's created_at"),
    ):
        assert any(t == table and c == column and words in m for t, c, m in found), (table, column, words, text)
    lenient = load_folder(result.out, lenient=True)
    assert len(lenient.rejects) > 0
    assert lenient.report.warnings  # the unknown leads' activities are counted, not silently dropped
