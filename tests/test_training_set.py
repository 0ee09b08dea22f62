"""Training rows: which (lead, t) are snapshotted, their labels and censoring,
``open_leads_at`` and ``build_training_set`` end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import SnapshotConfig
from mqlscore.contract import Dataset, load_folder, validate_tables
from mqlscore.features import FeatureBuilder, build_snapshots, build_training_set, open_leads_at
from mqlscore.features.registry import safe_name

DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)
SEC = pd.Timedelta(seconds=1)
C0 = pd.Timestamp("2025-01-01 00:00:00", tz="UTC")  # creation time of most hand-made leads
T0 = C0 + HOUR  # their first snapshot
AS_OF = pd.Timestamp("2025-12-31 00:00:00", tz="UTC")
CFG = SnapshotConfig(horizon_days=90, every_days=14, first_after_hours=1, after_activity=True,
                     after_activity_min_gap_days=14)


def frame(rows: list[dict], times: tuple[str, ...]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    for col in times:
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[us, UTC]")
    return out


def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    leads = frame([
        dict(lead_id="QUIET", created_at=C0),  # never active, never closed
        dict(lead_id="SQL_AT_EDGE", created_at=C0),  # SQL exactly 90 days after its first snapshot
        dict(lead_id="SQL_PAST_EDGE", created_at=C0),  # ... and one second later
        dict(lead_id="DQ_ON_SNAPSHOT", created_at=C0),  # disqualified exactly on its second snapshot
        dict(lead_id="SQL_ON_FIRST", created_at=C0),  # SQL exactly at its first snapshot
        dict(lead_id="YOUNG", created_at=AS_OF - 30 * DAY),  # all rows censored
        dict(lead_id="SQL_AFTER_AS_OF", created_at=AS_OF - 150 * DAY),  # SQL 10 days after as_of: not known
        dict(lead_id="ACTIVE", created_at=C0),
        dict(lead_id="FUTURE", created_at=AS_OF + DAY),  # not created yet
    ], ("created_at",))
    outcomes = frame([
        dict(lead_id="SQL_AT_EDGE", sql_at=T0 + 90 * DAY, disqualified_at=None),
        dict(lead_id="SQL_PAST_EDGE", sql_at=T0 + 90 * DAY + SEC, disqualified_at=None),
        dict(lead_id="DQ_ON_SNAPSHOT", sql_at=None, disqualified_at=T0 + 14 * DAY),
        dict(lead_id="SQL_ON_FIRST", sql_at=T0, disqualified_at=None),
        dict(lead_id="ACTIVE", sql_at=None, disqualified_at=C0 + 100 * DAY),
    ], ("sql_at", "disqualified_at"))
    acts = frame([
        dict(lead_id="ACTIVE", occurred_at=C0 + 2 * DAY + 10 * HOUR, activity_type="page_view", detail="/pricing"),
        dict(lead_id="ACTIVE", occurred_at=C0 + 2 * DAY + 11 * HOUR, activity_type="demo_request", detail=None),
        dict(lead_id="ACTIVE", occurred_at=C0 + 13 * DAY, activity_type="email_open", detail=None),  # same bucket
        dict(lead_id="ACTIVE", occurred_at=C0 + 20 * DAY, activity_type="email_open", detail=None),
        dict(lead_id="ACTIVE", occurred_at=C0 + 100 * DAY - 30 * SEC, activity_type="email_open", detail=None),
        dict(lead_id="ACTIVE", occurred_at=C0 + 120 * DAY, activity_type="email_open", detail=None),  # closed
        dict(lead_id="QUIET", occurred_at=C0 - DAY, activity_type="email_open", detail=None),  # before creation
        dict(lead_id="YOUNG", occurred_at=AS_OF - 30 * SEC, activity_type="email_open", detail=None),
    ], ("occurred_at",))
    return leads, acts, outcomes


def rows_of(snaps: pd.DataFrame, lead_id: str) -> pd.DataFrame:
    return snaps[snaps["lead_id"] == lead_id].reset_index(drop=True)


@pytest.fixture(scope="module")
def snaps() -> pd.DataFrame:
    leads, acts, outcomes = world()
    return build_snapshots(leads, acts, outcomes, AS_OF, CFG)


def test_periodic_snapshot_times_follow_the_policy(snaps: pd.DataFrame) -> None:
    quiet = rows_of(snaps, "QUIET")
    n = int(np.ceil((AS_OF - T0) / (14 * DAY)))
    expected = pd.DatetimeIndex([T0 + k * 14 * DAY for k in range(n)])
    assert expected[-1] < AS_OF <= expected[-1] + 14 * DAY
    assert pd.DatetimeIndex(quiet["as_of"]).equals(expected)
    # never active since creation: periodic rows only (its activity before creation triggers nothing)
    assert (quiet["kind"] == "periodic").all()
    np.testing.assert_array_equal(quiet["labelled"], expected + 90 * DAY <= AS_OF)
    assert (quiet["label"] == 0).all()
    assert snaps["as_of"].dt.tz is not None and str(snaps["as_of"].dt.tz) == "UTC"


def test_other_periods() -> None:
    leads, acts, outcomes = world()
    cfg = SnapshotConfig(every_days=7, first_after_hours=0.5, after_activity=False)
    quiet = rows_of(build_snapshots(leads, acts, outcomes, AS_OF, cfg), "QUIET")
    first = C0 + pd.Timedelta(minutes=30)
    assert quiet["as_of"].iloc[0] == first
    assert (quiet["as_of"].diff().dropna() == 7 * DAY).all()
    assert quiet["as_of"].iloc[-1] < AS_OF <= quiet["as_of"].iloc[-1] + 7 * DAY


def test_closed_leads_give_no_rows_at_or_after_closing(snaps: pd.DataFrame) -> None:
    dq = rows_of(snaps, "DQ_ON_SNAPSHOT")
    assert dq["as_of"].tolist() == [T0]  # the snapshot at the disqualification instant is gone
    assert rows_of(snaps, "SQL_ON_FIRST").empty
    for lead_id, closed in (("SQL_AT_EDGE", T0 + 90 * DAY), ("SQL_PAST_EDGE", T0 + 90 * DAY + SEC),
                            ("ACTIVE", C0 + 100 * DAY)):
        rows = rows_of(snaps, lead_id)
        assert (rows["as_of"] < closed).all()
        assert rows["as_of"].max() + 14 * DAY >= closed  # periodic rows run right up to closing
    assert rows_of(snaps, "FUTURE").empty


def test_labels_at_the_horizon_boundaries(snaps: pd.DataFrame) -> None:
    edge = rows_of(snaps, "SQL_AT_EDGE")
    # SQL at T0 + 90 days: in (t, t + 90 days] for every t = T0 + 14k < SQL
    assert edge["as_of"].tolist() == [T0 + 14 * k * DAY for k in range(7)]
    assert edge["label"].tolist() == [1] * 7
    past = rows_of(snaps, "SQL_PAST_EDGE")
    # one second later: outside the first snapshot's horizon
    assert past["as_of"].tolist() == [T0 + 14 * k * DAY for k in range(7)]
    assert past["label"].tolist() == [0] + [1] * 6
    assert rows_of(snaps, "QUIET")["label"].sum() == 0
    assert rows_of(snaps, "DQ_ON_SNAPSHOT")["label"].sum() == 0


def test_after_activity_snapshots(snaps: pd.DataFrame) -> None:
    active = rows_of(snaps, "ACTIVE")
    after = active[active["kind"] == "after_activity"]["as_of"].tolist()
    # first activity of each 14-day bucket since creation, plus one minute; none once closed
    assert after == [C0 + 2 * DAY + 10 * HOUR + pd.Timedelta(minutes=1), C0 + 20 * DAY + pd.Timedelta(minutes=1)]
    periodic = active[active["kind"] == "periodic"]["as_of"]
    assert pd.DatetimeIndex(periodic).equals(pd.DatetimeIndex([T0 + 14 * k * DAY for k in range(8)]))
    assert active["as_of"].is_monotonic_increasing and not active.duplicated(["lead_id", "as_of"]).any()
    # an activity whose minute-later time reaches as_of gives no row
    assert (rows_of(snaps, "YOUNG")["kind"] == "periodic").all()
    # features at an after-activity snapshot see that activity
    leads, acts, _ = world()
    b = FeatureBuilder().fit(leads, acts)
    X = b.transform(leads, acts, pd.DataFrame({"lead_id": "ACTIVE", "as_of": after}))
    assert X["intent__page_pricing__count_7d"].tolist() == [1, 0]
    assert X["intent__any__days_since"].iloc[0] == pytest.approx(1 / 1440, rel=1e-3)


def test_after_activity_can_be_switched_off() -> None:
    leads, acts, outcomes = world()
    snaps = build_snapshots(leads, acts, outcomes, AS_OF, SnapshotConfig(after_activity=False))
    assert (snaps["kind"] == "periodic").all()


def test_censored_rows_are_unlabelled_and_never_negatives(snaps: pd.DataFrame) -> None:
    assert (snaps["labelled"] == (snaps["as_of"] + 90 * DAY <= AS_OF)).all()
    young = rows_of(snaps, "YOUNG")
    assert len(young) == 3 and not young["labelled"].any()
    late = rows_of(snaps, "SQL_AFTER_AS_OF")
    assert late["labelled"].tolist() == [t + 90 * DAY <= AS_OF for t in late["as_of"]]
    assert late["labelled"].any() and not late["labelled"].all()

    leads, acts, outcomes = world()
    ds = validate_tables({"leads": leads, "activities": acts, "outcomes": outcomes}, as_of=AS_OF)
    ts = build_training_set(ds, snapshots=CFG)
    assert ts.as_of == AS_OF
    assert (ts.snapshots["as_of"] + 90 * DAY <= AS_OF).all()
    assert "YOUNG" not in set(ts.snapshots["lead_id"])
    kept = rows_of(ts.snapshots, "SQL_AFTER_AS_OF")
    assert (kept["as_of"] <= AS_OF - 90 * DAY).all() and len(kept) == late["labelled"].sum()

    # once the SQL (10 days after as_of) is known, the kept labels are unchanged: they
    # never depended on the unseen future
    later_as_of = AS_OF + 200 * DAY
    outcomes2 = pd.concat([outcomes, frame([dict(lead_id="SQL_AFTER_AS_OF", sql_at=AS_OF + 10 * DAY,
                                                 disqualified_at=None)], ("sql_at", "disqualified_at"))])
    later = build_snapshots(leads, acts, outcomes2, later_as_of, CFG)
    later_cols = later.rename(columns={c: f"{c}_later" for c in ("kind", "labelled", "label")})
    merged = ts.snapshots.merge(later_cols, on=["lead_id", "as_of"], validate="1:1")
    assert len(merged) == len(ts.snapshots)
    assert merged["labelled_later"].all()
    assert (merged["label"] == merged["label_later"]).all()
    # ... while the rows that were censored before would now be positives
    newly = rows_of(later, "SQL_AFTER_AS_OF")
    assert newly.loc[newly["as_of"] > AS_OF - 80 * DAY, "label"].eq(1).all()


def test_open_leads_at(snaps: pd.DataFrame) -> None:
    leads, _, outcomes = world()
    t = T0 + 14 * DAY  # DQ_ON_SNAPSHOT closes exactly now
    open_ = open_leads_at(leads, outcomes, t)
    assert list(open_.columns) == ["lead_id", "as_of"]
    assert set(open_["lead_id"]) == {"QUIET", "SQL_AT_EDGE", "SQL_PAST_EDGE", "ACTIVE"}
    assert (open_["as_of"] == t).all()
    assert set(open_leads_at(leads, outcomes, C0)["lead_id"]) == set()  # created exactly at t: not yet
    assert set(open_leads_at(leads, outcomes, C0 + SEC)["lead_id"]) == {
        "QUIET", "SQL_AT_EDGE", "SQL_PAST_EDGE", "DQ_ON_SNAPSHOT", "SQL_ON_FIRST", "ACTIVE"}
    assert set(open_leads_at(leads, outcomes, AS_OF)["lead_id"]) == {"QUIET", "YOUNG", "SQL_AFTER_AS_OF"}
    assert set(open_leads_at(leads, None, AS_OF)["lead_id"]) == set(leads["lead_id"]) - {"FUTURE"}
    # every training snapshot is a lead open at its time
    for row in snaps.sample(25, random_state=0).itertuples():
        assert row.lead_id in set(open_leads_at(leads, outcomes, row.as_of)["lead_id"])


def test_counts_add_up_hand_made() -> None:
    leads, acts, outcomes = world()
    ds = validate_tables({"leads": leads, "activities": acts, "outcomes": outcomes}, as_of=AS_OF)
    ts = build_training_set(ds, snapshots=CFG)
    rows = build_snapshots(ds.leads, ds.activities, ds.outcomes, AS_OF, CFG)
    c = ts.counts
    assert c["leads"] == len(ds.leads) == len(leads) - 1  # FUTURE is after the as-of time: not in the data
    assert c["snapshots"] == len(rows) == c["censored"] + c["labelled"]
    assert c["labelled"] == len(ts.snapshots) == len(ts.X) == len(ts.y)
    assert c["positives"] == int(ts.y.sum()) == 13  # 7 + 6 from the two SQL leads
    assert c["leads_with_rows"] == ts.snapshots["lead_id"].nunique() == 6
    assert ts.horizon_days == 90
    assert list(ts.X.columns) == ts.builder.feature_names_
    assert ts.X.index.equals(ts.snapshots.index)


# ------------------------------------------------------------------- demo export


@pytest.fixture(scope="module")
def demo(demo_export) -> Dataset:
    return load_folder(demo_export)


@pytest.fixture(scope="module")
def demo_ts(demo: Dataset):
    return build_training_set(demo)


def test_demo_training_set_is_sane(demo: Dataset, demo_ts) -> None:
    ts = demo_ts
    c = ts.counts
    assert c["snapshots"] == c["censored"] + c["labelled"]
    assert c["labelled"] == len(ts.X) == len(ts.snapshots) and c["positives"] == int(ts.y.sum())
    assert c["censored"] > 0
    rate = ts.y.mean()
    assert 0 < rate < 0.5
    assert (ts.snapshots["as_of"] + pd.Timedelta(days=ts.horizon_days) <= demo.as_of).all()
    assert list(ts.X.columns) == ts.builder.feature_names_
    # only a signal family with no event at all may have an always-missing recency
    seen = set(np.unique(ts.builder.family_codes(demo.activities)))
    allowed = {f"intent__{safe_name(name)}__days_since"
               for i, name in enumerate(ts.builder.families_) if i not in seen}
    all_nan = set(ts.X.columns[ts.X.isna().all()])
    assert all_nan <= allowed, sorted(all_nan - allowed)
    for col in ["fit__log10_employees", "fit__free_mail", "intent__any__days_since", "account__known_leads",
                "account__intent_decay_30d", "intent__evidence_stage", "extra__product_interest"]:
        assert ts.X[col].notna().any(), col
    # every kept row is a lead open at its time, and labels agree with the outcomes
    sql = demo.outcomes.set_index("lead_id")["sql_at"]
    s = ts.snapshots.assign(sql_at=ts.snapshots["lead_id"].map(sql))
    expected = (s["sql_at"] > s["as_of"]) & (s["sql_at"] <= s["as_of"] + pd.Timedelta(days=90))
    np.testing.assert_array_equal(ts.y, expected.astype(np.int8))


def test_backtest_as_of_equals_the_export_cut_at_that_time(demo: Dataset, demo_ts) -> None:
    """``build_training_set(as_of=cut)`` on the full export gives the same rows,
    labels and features as the export truncated at ``cut``, and those rows are
    exactly the full training set's rows whose horizon ends by ``cut``."""
    cut = demo.as_of - pd.Timedelta(days=150)
    leads = demo.leads[demo.leads["created_at"] <= cut]
    acts = demo.activities[demo.activities["occurred_at"] < cut]
    outcomes = demo.outcomes[(demo.outcomes["lead_id"].isin(leads["lead_id"]))].copy()
    for col in ("sql_at", "disqualified_at"):
        outcomes[col] = outcomes[col].where(outcomes[col] <= cut)
    truncated = dataclasses.replace(demo, leads=leads.reset_index(drop=True), activities=acts.reset_index(drop=True),
                                    outcomes=outcomes.reset_index(drop=True), as_of=cut)
    early = build_training_set(truncated)
    backtest = build_training_set(demo, as_of=cut)
    assert early.counts["labelled"] > 1000
    pd.testing.assert_frame_equal(backtest.snapshots, early.snapshots)
    assert backtest.builder.to_dict() == early.builder.to_dict()
    pd.testing.assert_frame_equal(backtest.X, early.X, check_exact=True)

    full = demo_ts.snapshots
    due = full[full["as_of"] + pd.Timedelta(days=90) <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(early.snapshots, due)


def test_backtest_fit_sees_no_lead_created_after_as_of() -> None:
    """Leads that enter the CRM after the as-of time cannot shape the feature
    definition (categorical levels, extra-column types) of a backtest."""
    from mqlscore.config import FeatureConfig

    cut = pd.Timestamp("2025-06-01", tz="UTC")
    rows = [dict(lead_id=f"P{i}", created_at=C0 + i * DAY, org_type=org, tier=tier)
            for i, (org, tier) in enumerate([("hospital", "gold")] * 3 + [("payer", "silver")] * 3
                                            + [("government", "bronze")])]
    rows += [dict(lead_id=f"F{i}", created_at=cut + (i + 1) * DAY, org_type="government", tier="bronze")
             for i in range(5)]
    leads = frame(rows, ("created_at",))
    outcomes = frame([dict(lead_id="P0", sql_at=C0 + 20 * DAY, disqualified_at=None)], ("sql_at", "disqualified_at"))
    acts = frame([dict(lead_id="P1", occurred_at=C0 + 5 * DAY, activity_type="demo_request", detail=None)],
                 ("occurred_at",))
    full = validate_tables({"leads": leads, "activities": acts, "outcomes": outcomes})
    past = validate_tables({"leads": leads[leads["created_at"] <= cut], "activities": acts, "outcomes": outcomes},
                           as_of=cut)
    cfg = FeatureConfig(min_category_count=3)
    backtest = build_training_set(full, features=cfg, as_of=cut)
    then = build_training_set(past, features=cfg)
    assert backtest.builder.to_dict() == then.builder.to_dict()
    assert "government" not in backtest.builder.categories_["org_type"]
    pd.testing.assert_frame_equal(backtest.snapshots, then.snapshots)
    pd.testing.assert_frame_equal(backtest.X, then.X, check_exact=True)


@pytest.mark.parametrize("empty", ["sql_at", "disqualified_at", "both", "no_rows"])
def test_outcomes_with_an_empty_column(empty: str) -> None:
    # Olist, for one, records wins only: disqualified_at is empty throughout.
    leads, acts, outcomes = world()
    if empty == "no_rows":
        outcomes = outcomes.iloc[:0]
    for col in ("sql_at", "disqualified_at"):
        if empty in (col, "both"):
            outcomes[col] = pd.Series(pd.NaT, index=outcomes.index, dtype="datetime64[us, UTC]")
    snaps = build_snapshots(leads, acts, outcomes, AS_OF, CFG)
    never_sql = snaps[snaps["lead_id"] == "QUIET"]["as_of"].tolist()
    dq = rows_of(snaps, "DQ_ON_SNAPSHOT")
    sql = rows_of(snaps, "SQL_AT_EDGE")
    if empty == "sql_at":
        assert dq["as_of"].tolist() == [T0]
        assert sql["as_of"].tolist() == never_sql and sql["label"].sum() == 0
    elif empty == "disqualified_at":
        assert dq["as_of"].tolist() == never_sql
        assert sql["label"].tolist() == [1] * 7
    else:
        assert dq["as_of"].tolist() == never_sql == sql["as_of"].tolist()
        assert snaps["label"].sum() == 0
    assert set(open_leads_at(leads, outcomes, AS_OF)["lead_id"]) >= {"QUIET", "YOUNG"}
    ds = validate_tables({"leads": leads, "activities": acts, "outcomes": outcomes}, as_of=AS_OF)
    ts = build_training_set(ds, snapshots=CFG)
    assert ts.counts["labelled"] == len(ts.X) > 0
