"""Point in time, leakage and parity: a feature at time t depends on nothing but
what the CRM held strictly before t, and on nothing outside the feature registry.

Most checks run on the shared synthetic export (``demo_export``): many
(lead, t) rows at once, against the same rows computed from altered data.
"""

from __future__ import annotations

import dataclasses
import inspect
import json

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import FeatureConfig
from mqlscore.contract import CANONICAL_ACTIVITY_TYPES, Dataset, load_folder
from mqlscore.features import FeatureBuilder, build_training_set

URLS = ["/pricing", "/clinical-evidence", "/case-studies/acme", "/integrations/epic", "/roi-calculator",
        "/trust/hipaa", "/", "/blog/post", "/careers", "/events/himss-2026", "/never-seen/x",
        "https://vendor.com/Pricing?utm=1"]
TYPES = [t for t in CANONICAL_ACTIVITY_TYPES] + ["g2_intent_surge", "brand_new_type"]
TITLES = ["CFO", "CISO", "CMIO", "Chief Compliance Officer", "Marketing Intern"]


@pytest.fixture(scope="module")
def ds(demo_export) -> Dataset:
    return load_folder(demo_export)


@pytest.fixture(scope="module")
def builder(ds: Dataset) -> FeatureBuilder:
    return FeatureBuilder().fit(ds.leads, ds.activities)


def utc(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Exactly equal, NaN equal to NaN, categoricals compared with their levels."""
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def random_activities(rng: np.random.Generator, lead_ids: list[str], t: pd.Timestamp, n: int,
                      max_days: float = 120.0) -> pd.DataFrame:
    """``n`` arbitrary activities at or after ``t`` (a fifth of them exactly at ``t``)."""
    offsets = rng.uniform(0, max_days, n)
    offsets[rng.random(n) < 0.2] = 0.0
    types = rng.choice(TYPES, n)
    return pd.DataFrame({
        "lead_id": rng.choice(lead_ids, n),
        "occurred_at": (t + pd.to_timedelta(offsets, unit="D")).astype("datetime64[us, UTC]"),
        "activity_type": types,
        "detail": [str(rng.choice(URLS)) if ty == "page_view" else "Some asset" for ty in types],
    })


def group_snapshots(ds: Dataset, rng: np.random.Generator, n_accounts: int, n_solo: int
                    ) -> tuple[pd.DataFrame, dict[str, tuple[list[str], pd.Timestamp]]]:
    """One time t per group (an account's leads, or a lead without account) and a
    snapshot at t for each of its leads created before t. Half of the times sit
    exactly on one of the group's activities."""
    leads = ds.leads
    sizes = leads["account_id"].value_counts()
    accounts = rng.choice(sizes.index[sizes >= 2].to_numpy(), n_accounts, replace=False)
    solo = rng.choice(leads.loc[leads["account_id"].isna(), "lead_id"].to_numpy(), n_solo, replace=False)
    groups: dict[str, list[str]] = {a: leads.loc[leads["account_id"] == a, "lead_id"].tolist() for a in accounts}
    groups.update({f"solo:{lid}": [lid] for lid in solo})
    created = leads.set_index("lead_id")["created_at"]
    rows, meta = [], {}
    for key, members in groups.items():
        group_acts = ds.activities.loc[ds.activities["lead_id"].isin(members), "occurred_at"]
        lo = created[members].min() + pd.Timedelta(hours=1)
        if len(group_acts) and rng.random() < 0.5:
            t = max(utc(rng.choice(group_acts.to_numpy())), lo)  # an event exactly at t
        else:
            span = (ds.as_of - lo).total_seconds()
            t = lo + pd.Timedelta(seconds=float(rng.uniform(0, max(span, 1))))
        meta[key] = (members, t)
        for lid in members:
            if created[lid] < t:
                rows.append((lid, t))
    snaps = pd.DataFrame(rows, columns=["lead_id", "as_of"])
    snaps["as_of"] = snaps["as_of"].astype("datetime64[us, UTC]")
    return snaps, meta


# ------------------------------------------------------------------- (a) and (b)


def test_activities_at_or_after_t_never_change_features(ds: Dataset, builder: FeatureBuilder) -> None:
    rng = np.random.default_rng(1)
    snaps, meta = group_snapshots(ds, rng, n_accounts=150, n_solo=60)
    assert len(snaps) > 300
    acts = ds.activities
    baseline = builder.transform(ds.leads, acts, snaps)

    # (b) remove every activity of the group at or after its t
    t_of_lead = pd.Series({lid: t for members, t in meta.values() for lid in members})
    t_row = acts["lead_id"].map(t_of_lead)
    removed = acts[~(t_row.notna() & (acts["occurred_at"] >= t_row))]
    assert len(removed) < len(acts)
    assert_same(builder.transform(ds.leads, removed, snaps), baseline)

    # (a) add arbitrary activities at or after t: for the lead itself, its colleagues,
    # and a colleague who joins the account at or after t (with activity before it joined)
    extra_acts, extra_leads = [], []
    for key, (members, t) in meta.items():
        extra_acts.append(random_activities(rng, members, t, n=4 * len(members) + 3))
        if not key.startswith("solo:"):
            new_id = f"NEW-{key}"
            joined = t + pd.Timedelta(days=float(rng.choice([0.0, 3.0])))
            extra_leads.append({"lead_id": new_id, "created_at": joined, "account_id": key,
                                "job_title": str(rng.choice(TITLES))})
            extra_acts.append(random_activities(rng, [new_id], t - pd.Timedelta(days=5), n=4, max_days=4))
            extra_acts.append(random_activities(rng, [new_id], joined, n=4))
    more_leads = pd.DataFrame(extra_leads)
    more_leads["created_at"] = more_leads["created_at"].astype("datetime64[us, UTC]")
    leads_plus = pd.concat([ds.leads, more_leads], ignore_index=True)
    acts_plus = pd.concat([acts, *extra_acts], ignore_index=True).sample(frac=1.0, random_state=3)
    assert_same(builder.transform(leads_plus, acts_plus, snaps), baseline)

    # ... and the added activities do show up just after (the test can fail)
    later = snaps.assign(as_of=snaps["as_of"] + pd.Timedelta(days=200))
    assert not builder.transform(leads_plus, acts_plus, later).equals(builder.transform(ds.leads, acts, later))


def test_many_snapshots_of_one_lead_see_only_their_past(ds: Dataset, builder: FeatureBuilder) -> None:
    """The same lead at many times in one call equals each time computed from the
    activities before it only."""
    rng = np.random.default_rng(2)
    counts = ds.activities["lead_id"].value_counts()
    for lid in rng.choice(counts.index[counts >= 15].to_numpy(), 3, replace=False):
        lead = ds.leads[ds.leads["lead_id"] == lid]
        acc = lead["account_id"].iloc[0]
        group = ds.leads[ds.leads["account_id"] == acc] if isinstance(acc, str) else lead
        acts = ds.activities[ds.activities["lead_id"].isin(group["lead_id"])]
        own = acts[acts["lead_id"] == lid]["occurred_at"].sort_values()
        picks = np.sort(rng.choice(len(own), 5, replace=False))
        times = pd.DatetimeIndex(list(own.iloc[picks]) + list(own.iloc[picks] + pd.Timedelta(seconds=1)))
        snaps = pd.DataFrame({"lead_id": lid, "as_of": times})
        together = builder.transform(ds.leads, ds.activities, snaps)
        for i, t in enumerate(times):
            alone = builder.transform(group, acts[acts["occurred_at"] < t], snaps.iloc[[i]])
            assert_same(alone, together.iloc[[i]])


# --------------------------------------------------------------------------- (c)


def test_outcomes_are_not_an_input_of_the_feature_definition() -> None:
    assert list(inspect.signature(FeatureBuilder.transform).parameters) == ["self", "leads", "activities",
                                                                            "snapshots"]
    assert list(inspect.signature(FeatureBuilder.fit).parameters) == ["self", "leads", "activities"]


def test_shuffled_outcomes_give_identical_features(ds: Dataset) -> None:
    rng = np.random.default_rng(3)
    ids = ds.leads["lead_id"].to_numpy()
    relabel = dict(zip(ids, rng.permutation(ids)))  # outcomes move to other leads (one each)
    shuffled = ds.outcomes.assign(lead_id=ds.outcomes["lead_id"].map(relabel))
    a = build_training_set(ds)
    b = build_training_set(dataclasses.replace(ds, outcomes=shuffled))
    assert a.builder.to_dict() == b.builder.to_dict()
    key = ["lead_id", "as_of"]
    left = a.snapshots[key].reset_index().rename(columns={"index": "i"})
    right = b.snapshots[key].reset_index().rename(columns={"index": "j"})
    both = left.merge(right, on=key)
    assert len(both) > 0.3 * min(len(a.snapshots), len(b.snapshots))
    assert len(both) < len(a.snapshots)  # the shuffle changed which rows exist ...
    la = a.snapshots["label"].to_numpy()[both["i"]]
    lb = b.snapshots["label"].to_numpy()[both["j"]]
    assert (la != lb).sum() > 100  # ... and the labels of the common ones
    xa = a.X.iloc[both["i"].to_numpy()].reset_index(drop=True)
    xb = b.X.iloc[both["j"].to_numpy()].reset_index(drop=True)
    assert_same(xa, xb)


# --------------------------------------------------------------------------- (d)


def test_batch_equals_single_request_per_account_group(ds: Dataset, builder: FeatureBuilder) -> None:
    rng = np.random.default_rng(4)
    leads = ds.leads
    sizes = leads["account_id"].value_counts()
    with_account = leads.loc[leads["account_id"].map(sizes).fillna(0) >= 3, "lead_id"].to_numpy()
    without = leads.loc[leads["account_id"].isna(), "lead_id"].to_numpy()
    chosen = list(rng.choice(with_account, 40, replace=False)) + list(rng.choice(without, 12, replace=False))
    acts_of = ds.activities.groupby("lead_id")["occurred_at"]
    rows = []
    for lid in chosen:
        created = leads.loc[leads["lead_id"] == lid, "created_at"].iloc[0]
        rows.append((lid, created + pd.Timedelta(hours=1)))
        rows.append((lid, created + (ds.as_of - created) * float(rng.uniform(0.05, 0.95))))
        if lid in acts_of.groups:
            rows.append((lid, utc(rng.choice(acts_of.get_group(lid).to_numpy())) + pd.Timedelta(minutes=1)))
        rows.append((lid, ds.as_of + pd.Timedelta(microseconds=123_457)))  # "now", as a service sees it
    snaps = pd.DataFrame(rows, columns=["lead_id", "as_of"])
    snaps["as_of"] = snaps["as_of"].astype("datetime64[us, UTC]")
    batch = builder.transform(leads, ds.activities, snaps)
    assert batch.filter(like="account__").notna().any().all()
    for lid in chosen:
        acc = leads.loc[leads["lead_id"] == lid, "account_id"].iloc[0]
        group = leads[leads["account_id"] == acc] if isinstance(acc, str) else leads[leads["lead_id"] == lid]
        group = group.iloc[::-1]  # the request may list the group in any order
        group_acts = ds.activities[ds.activities["lead_id"].isin(group["lead_id"])].iloc[::-1]
        mine = snaps["lead_id"] == lid
        single = builder.transform(group, group_acts, snaps[mine])
        assert_same(single, batch[mine.to_numpy()])


def test_parity_with_sub_millisecond_timestamps() -> None:
    # Which events are "before t" must not depend on the other rows of the frame,
    # even when timestamps carry microseconds.
    us = pd.Timedelta(microseconds=1)
    t = pd.Timestamp("2025-04-01 00:00:00", tz="UTC")
    leads = pd.DataFrame({"lead_id": ["X", "A", "B"],
                          "created_at": [pd.Timestamp("2025-01-01", tz="UTC"), t - pd.Timedelta(days=30) + 500 * us,
                                         t - pd.Timedelta(days=30) + 700 * us],
                          "account_id": [None, None, None]})
    acts = pd.DataFrame({"lead_id": ["A", "B"], "occurred_at": [t + 200 * us, t + 100 * us],
                         "activity_type": ["demo_request", "demo_request"], "detail": [None, None]})
    snaps = pd.DataFrame({"lead_id": ["A", "B"], "as_of": [t + 900 * us, t + 50 * us]})
    b = FeatureBuilder().fit(leads, acts)
    full = b.transform(leads, acts, snaps)
    assert full["intent__act_demo_request__count_7d"].tolist() == [0, 0]  # same millisecond, or after: not seen
    for i, lid in enumerate(["A", "B"]):
        alone = b.transform(leads[leads["lead_id"] == lid], acts[acts["lead_id"] == lid], snaps.iloc[[i]])
        assert_same(alone, full.iloc[[i]])


# --------------------------------------------------------------------------- (e)


def test_columns_outside_the_registry_change_nothing(ds: Dataset, builder: FeatureBuilder) -> None:
    rng = np.random.default_rng(5)
    sample = ds.leads.sample(1500, random_state=5)
    snaps = pd.DataFrame({"lead_id": sample["lead_id"].to_numpy(),
                          "as_of": (sample["created_at"] + (ds.as_of - sample["created_at"]) * 0.5).to_numpy()})
    baseline = builder.transform(ds.leads, ds.activities, snaps)

    leads = ds.leads.copy()
    n = len(leads)
    leads["first_name"] = rng.permutation(leads["first_name"].to_numpy())
    leads["last_name"] = "Zed"
    leads["company_name"] = [f"Company {i}" for i in range(n)]
    domain = leads["email"].str.split("@").str[1]
    leads["email"] = ("someone" + pd.Series(np.arange(n)).astype(str) + "@" + domain).where(leads["email"].notna())
    leads["new_number"] = rng.normal(size=n)
    leads["new_text"] = rng.choice(["a", "b", "c"], n)
    leads = leads[list(reversed(leads.columns))]  # column order is not an input either
    acts = ds.activities.copy()
    acts["campaign_id"] = rng.integers(0, 50, len(acts))
    acts["utm_source"] = rng.choice(["linkedin", "google", None], len(acts))
    acts = acts[["utm_source", "detail", "campaign_id", "activity_type", "occurred_at", "lead_id"]]
    assert_same(builder.transform(leads, acts, snaps), baseline)

    # fitting on the altered personal fields learns the same definition
    refit = FeatureBuilder().fit(leads.drop(columns=["new_number", "new_text"]), acts)
    assert refit.to_dict() == builder.to_dict()


def test_extra_column_used_when_present_at_fit_ignored_when_new(ds: Dataset) -> None:
    rng = np.random.default_rng(6)
    leads = ds.leads.assign(fte_budget=rng.integers(1, 500, len(ds.leads)).astype(float))
    b = FeatureBuilder().fit(leads, ds.activities)
    assert b.extras_["fte_budget"] == "numeric"
    assert "extra__fte_budget" in b.feature_names_
    snaps = pd.DataFrame({"lead_id": leads["lead_id"].iloc[:300], "as_of": ds.as_of})
    base = b.transform(leads, ds.activities, snaps)
    np.testing.assert_array_equal(base["extra__fte_budget"], leads["fte_budget"].iloc[:300].astype(np.float32))
    changed = b.transform(leads.assign(fte_budget=leads["fte_budget"] * 2), ds.activities, snaps)
    assert not changed["extra__fte_budget"].equals(base["extra__fte_budget"])
    assert_same(changed.drop(columns="extra__fte_budget"), base.drop(columns="extra__fte_budget"))
    gone = b.transform(ds.leads, ds.activities, snaps)  # missing at transform: missing values
    assert gone["extra__fte_budget"].isna().all()

    added = b.transform(leads.assign(brand_new=rng.normal(size=len(leads))), ds.activities, snaps)
    assert list(added.columns) == b.feature_names_
    assert_same(added, base)


# --------------------------------------------------------------------------- (f)


def _strings(obj: object) -> set[str]:
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, dict):
        return set().union(*(_strings(k) | _strings(v) for k, v in obj.items())) if obj else set()
    if isinstance(obj, (list, tuple)):
        return set().union(*(_strings(v) for v in obj)) if obj else set()
    return set()


def test_round_trip_and_no_personal_data(ds: Dataset, builder: FeatureBuilder) -> None:
    text = json.dumps(builder.to_dict())
    again = FeatureBuilder.from_dict(json.loads(text))
    assert again.feature_names_ == builder.feature_names_
    snaps = ds.leads[["lead_id"]].sample(2000, random_state=7).assign(as_of=ds.as_of - pd.Timedelta(days=60))
    assert_same(again.transform(ds.leads, ds.activities, snaps), builder.transform(ds.leads, ds.activities, snaps))

    stored = {s.strip().lower() for s in _strings(json.loads(text))}
    leads = ds.leads
    emails = leads["email"].dropna()
    personal = {v.lower() for col in ("first_name", "last_name") for v in leads[col].dropna() if len(v) > 2}
    personal |= {v.strip().lower() for v in pd.concat([emails, emails.str.split("@").str[0], leads["company_name"]])
                 .dropna()}
    # a one-word title ("Student") can also be a derived level; multi-word titles cannot
    personal |= {v.strip().lower() for v in leads["job_title"].dropna() if " " in v.strip()}
    assert len(personal) > 1000
    leaked = stored & personal
    assert not leaked, sorted(leaked)[:10]
    assert "@" not in text


def test_from_dict_rejects_a_mismatched_feature_list(builder: FeatureBuilder) -> None:
    data = json.loads(json.dumps(builder.to_dict()))
    data["features"] = data["features"][:-1]
    with pytest.raises(ValueError):
        FeatureBuilder.from_dict(data)


def test_round_trip_keeps_a_non_default_config() -> None:
    cfg = FeatureConfig(half_lives_days=(3.5, 60.0), windows_days=(14,), committee_window_days=21,
                        account_half_life_days=45.0, min_category_count=1)
    leads = pd.DataFrame({"lead_id": ["A", "B"], "created_at": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
                          "account_id": ["X", "X"], "job_title": ["CFO", "CISO"], "tier": ["gold", "silver"]})
    acts = pd.DataFrame({"lead_id": ["A", "B"], "occurred_at": pd.to_datetime(["2025-02-01", "2025-02-03"], utc=True),
                         "activity_type": ["demo_request", "page_view"], "detail": [None, "/pricing"]})
    b = FeatureBuilder(cfg).fit(leads, acts)
    again = FeatureBuilder.from_dict(json.loads(json.dumps(b.to_dict())))
    assert again.config == cfg
    snaps = pd.DataFrame({"lead_id": ["A", "B"], "as_of": pd.Timestamp("2025-02-10", tz="UTC")})
    assert_same(again.transform(leads, acts, snaps), b.transform(leads, acts, snaps))
    assert "account__intent_decay_45d" in again.feature_names_ and "extra__tier" in again.feature_names_
