"""Feature engine on small hand-made frames: pages, families, intent, fit and committee features.

Every expected value here is worked out by hand from the definition, so a test
fails when the definition drifts (a wrong decay base, an inclusive bound, a
lead's own activity counted as its colleagues', ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import DEFAULT_PAGE_RULES, FeatureConfig
from mqlscore.features import FeatureBuilder, NotFittedError
from mqlscore.features import fit as fitf
from mqlscore.features.pages import UNCATEGORISED, categorise_path, first_segment, normalise_path

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2025-06-01 12:00:00", tz="UTC")  # the as-of time of most tests


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def make_leads(*rows: dict) -> pd.DataFrame:
    """Leads in the cleaned form (created_at UTC, ids as str)."""
    frame = pd.DataFrame(list(rows))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True).astype("datetime64[us, UTC]")
    frame["lead_id"] = frame["lead_id"].astype(str)
    return frame


def make_acts(*rows: tuple) -> pd.DataFrame:
    """Activities from (lead_id, occurred_at, activity_type[, detail]) tuples."""
    records = [dict(lead_id=r[0], occurred_at=r[1], activity_type=r[2], detail=r[3] if len(r) > 3 else None)
               for r in rows]
    frame = pd.DataFrame(records, columns=["lead_id", "occurred_at", "activity_type", "detail"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True).astype("datetime64[us, UTC]")
    frame["detail"] = frame["detail"].astype(object)
    return frame


def at(builder: FeatureBuilder, leads: pd.DataFrame, acts: pd.DataFrame, lead_id: str,
       as_of: pd.Timestamp) -> pd.Series:
    """The features of one lead at one time."""
    snaps = pd.DataFrame({"lead_id": [lead_id], "as_of": [as_of]})
    return builder.transform(leads, acts, snaps).iloc[0]


def one_lead(**extra) -> pd.DataFrame:
    return make_leads(dict(lead_id="L1", created_at=T0 - 400 * DAY, **extra))


# ---------------------------------------------------------------------------- pages


@pytest.mark.parametrize(("detail", "expected"), [
    ("/pricing", "/pricing"),
    ("https://www.vendor-health.com/Pricing/?utm_source=linkedin&utm_medium=paid#plans", "/pricing"),
    ("http://vendor.com/Trust/HIPAA/", "/trust/hipaa"),
    ("  /Blog/Why-RPM-Works?ref=newsletter  ", "/blog/why-rpm-works"),
    ("pricing", "/pricing"),
    ("/case-studies/acme///", "/case-studies/acme"),
    ("https://vendor.com", "/"),
    ("https://vendor.com/", "/"),
    ("/", "/"),
    ("", "/"),
    ("/?utm=x", "/"),
    (None, None),
    (float("nan"), None),
])
def test_normalise_path(detail: object, expected: str | None) -> None:
    assert normalise_path(detail) == expected


@pytest.mark.parametrize(("detail", "category"), [
    ("/pricing", "pricing"),
    ("https://www.vendor.com/PRICING/enterprise?utm_source=g2", "pricing"),
    ("/plans/", "pricing"),
    ("/trust/hipaa", "security"),
    ("/baa", "security"),
    ("/security/soc2", "security"),
    ("/integrations/epic", "integrations"),
    ("/developers/fhir-api", "integrations"),
    ("/clinical-evidence", "evidence"),
    ("/research/peer-reviewed/rct-2024", "evidence"),
    ("/case-studies/x", "case_studies"),
    ("/case-studies/clinical-outcomes-at-acme", "case_studies"),  # a case study, not evidence
    ("/customers/acme-health", "case_studies"),
    ("/roi-calculator", "roi"),
    ("/blog/x", "blog"),
    ("/careers", "careers"),
    ("/careers/", "careers"),
    ("/jobs/nurse-informaticist", "careers"),
    ("/demo", "demo_contact"),
    ("/", "home"),
    ("https://vendor.com", "home"),
    ("/about/leadership", UNCATEGORISED),
    ("/events/himss-2026", UNCATEGORISED),
    (None, UNCATEGORISED),
])
def test_categorise_path(detail: str | None, category: str) -> None:
    assert categorise_path(normalise_path(detail), DEFAULT_PAGE_RULES) == category


def test_first_segment() -> None:
    assert first_segment("/events/himss-2026") == "events"
    assert first_segment("/about") == "about"
    assert first_segment("/") is None
    assert first_segment(None) is None


def test_page_views_become_their_category_family() -> None:
    leads = one_lead()
    acts = make_acts(
        ("L1", T0 - 1 * DAY, "page_view", "https://vendor.com/Pricing?utm=1"),
        ("L1", T0 - 2 * DAY, "page_view", "/pricing/"),
        ("L1", T0 - 3 * DAY, "page_view", "/trust/hipaa"),
        ("L1", T0 - 4 * DAY, "page_view", "/case-studies/x"),
        ("L1", T0 - 5 * DAY, "page_view", "/"),
    )
    b = FeatureBuilder().fit(leads, acts)
    codes = b.family_codes(acts)
    assert [b.families_[c] for c in codes] == ["page:pricing", "page:pricing", "page:security",
                                               "page:case_studies", "page:home"]
    f = at(b, leads, acts, "L1", T0)
    assert f["intent__page_pricing__count_7d"] == 2
    assert f["intent__page_security__count_7d"] == 1
    assert f["intent__page_case_studies__count_7d"] == 1
    assert f["intent__page_evidence__count_7d"] == 0
    assert f["intent__page_home__count_7d"] == 1


# ------------------------------------------------------------------ learned families


def test_frequent_unknown_sections_and_types_become_families_rare_ones_other() -> None:
    cfg = FeatureConfig(min_category_count=3)
    leads = make_leads(dict(lead_id="L1", created_at=T0 - 400 * DAY), dict(lead_id="L2", created_at=T0 - 400 * DAY))
    rows = []
    for i in range(3):  # frequent: exactly at the threshold
        rows.append(("L2", T0 - (50 + i) * DAY, "page_view", f"/events/himss-202{i}"))
        rows.append(("L2", T0 - (50 + i) * DAY, "g2_intent_surge", None))
    for i in range(2):  # rare: one below the threshold
        rows.append(("L2", T0 - (60 + i) * DAY, "page_view", f"/about/team-{i}"))
        rows.append(("L2", T0 - (60 + i) * DAY, "call", None))
    b = FeatureBuilder(cfg).fit(leads, make_acts(*rows))
    assert "page:section:events" in b.families_
    assert "act:g2_intent_surge" in b.families_
    assert "page:section:about" not in b.families_
    assert "act:call" not in b.families_
    assert b.families_[-2:] == ["page:other", "act:other"]
    # every canonical type and page rule is a family whether seen or not
    assert "act:baa_request" in b.families_ and "page:roi" in b.families_
    assert "act:page_view" not in b.families_

    probe = make_acts(
        ("L1", T0 - 1 * DAY, "page_view", "https://vendor.com/EVENTS/vive-2026?src=x"),
        ("L1", T0 - 1 * DAY, "page_view", "/about/board"),
        ("L1", T0 - 1 * DAY, "page_view", "/never-seen-section"),
        ("L1", T0 - 1 * DAY, "g2_intent_surge", None),
        ("L1", T0 - 1 * DAY, "call", None),
        ("L1", T0 - 1 * DAY, "brand_new_type", None),
        ("L1", T0 - 1 * DAY, "demo_request", None),
    )
    assert [b.families_[c] for c in b.family_codes(probe)] == [
        "page:section:events", "page:other", "page:other", "act:g2_intent_surge", "act:other", "act:other",
        "act:demo_request"]
    f = at(b, leads, probe, "L1", T0)
    assert f["intent__page_section_events__count_7d"] == 1
    assert f["intent__page_other__count_7d"] == 2
    assert f["intent__act_g2_intent_surge__count_7d"] == 1
    assert f["intent__act_other__count_7d"] == 2
    assert f["intent__any__count_7d"] == 7


def test_feature_names_unique_when_a_frequent_type_is_called_other() -> None:
    # Salesforce's task type "Other" arrives lower-cased as activity_type "other".
    cfg = FeatureConfig(min_category_count=2)
    leads = one_lead()
    acts = make_acts(*[("L1", T0 - (i + 1) * DAY, "other", None) for i in range(3)],
                     *[("L1", T0 - (i + 1) * DAY, "g2-intent", None) for i in range(2)],
                     *[("L1", T0 - (i + 1) * DAY, "g2_intent", None) for i in range(2)])
    b = FeatureBuilder(cfg).fit(leads, acts)
    assert len(set(b.feature_names_)) == len(b.feature_names_)
    assert len(set(b.families_)) == len(b.families_)
    assert b.families_[-2:] == ["page:other", "act:other"]
    X = b.transform(leads, acts, pd.DataFrame({"lead_id": ["L1"], "as_of": [T0]}))
    assert list(X.columns) == b.feature_names_
    assert X["intent__act_g2_intent__count_7d"].iloc[0] == 2  # one spelling keeps the name
    assert X["intent__act_other__count_7d"].iloc[0] == 3 + 2  # "other" and the other spelling


def test_page_views_without_a_detail_column() -> None:
    # detail is optional in the contract: a folder without it must still work.
    leads = one_lead()
    acts = make_acts(("L1", T0 - 2 * DAY, "page_view"), ("L1", T0 - 3 * DAY, "email_open"))
    acts = acts.drop(columns="detail")
    b = FeatureBuilder().fit(leads, acts)
    f = at(b, leads, acts, "L1", T0)
    assert f["intent__page_other__count_7d"] == 1
    assert f["intent__act_email_open__count_7d"] == 1
    assert f["intent__any__count_7d"] == 2


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        FeatureBuilder().transform(one_lead(), make_acts(), pd.DataFrame({"lead_id": ["L1"], "as_of": [T0]}))


# --------------------------------------------------------------------------- intent

HALF_LIVES = (3.5, 7.0, 30.0, 90.0, 270.0)
WINDOWS = (7, 30, 60)


def test_decayed_counts_windows_and_recency_closed_form() -> None:
    cfg = FeatureConfig(half_lives_days=HALF_LIVES, windows_days=WINDOWS)
    leads = make_leads(dict(lead_id="L1", created_at=T0 - 400 * DAY), dict(lead_id="L2", created_at=T0 - 400 * DAY))
    ages = [1.5, 10.0, 45.0]
    acts = make_acts(
        *[("L1", T0 - a * DAY, "demo_request") for a in ages],
        ("L1", T0 - 3 * DAY, "page_view", "/pricing"),
        ("L1", T0 + 1 * DAY, "demo_request"),  # after as_of: invisible
        ("L2", T0 - 0.5 * DAY, "demo_request"),  # another lead's: invisible
    )
    b = FeatureBuilder(cfg).fit(leads, acts)
    f = at(b, leads, acts, "L1", T0)
    for h in HALF_LIVES:
        expected = sum(0.5 ** (a / h) for a in ages)
        assert f[f"intent__act_demo_request__decay_{h:g}d"] == pytest.approx(expected, rel=1e-6), h
        assert f[f"intent__page_pricing__decay_{h:g}d"] == pytest.approx(0.5 ** (3 / h), rel=1e-6), h
        assert f[f"intent__act_email_open__decay_{h:g}d"] == 0
    assert f["intent__act_demo_request__count_7d"] == 1
    assert f["intent__act_demo_request__count_30d"] == 2
    assert f["intent__act_demo_request__count_60d"] == 3
    assert f["intent__act_demo_request__days_since"] == pytest.approx(1.5, abs=1e-6)
    assert f["intent__page_pricing__days_since"] == pytest.approx(3.0, abs=1e-6)
    assert f["intent__any__days_since"] == pytest.approx(1.5, abs=1e-6)
    assert f["intent__any__count_7d"] == 2
    assert f["intent__any__count_30d"] == 3
    assert f["intent__any__count_60d"] == 4
    # a family never seen: zero counts, missing recency
    assert np.isnan(f["intent__act_baa_request__days_since"])
    assert f["intent__act_baa_request__count_60d"] == 0
    # the same lead later: every age grows by 10 days
    g = at(b, leads, acts, "L1", T0 + 10 * DAY)
    assert g["intent__act_demo_request__decay_30d"] == pytest.approx(
        sum(0.5 ** ((a + 10) / 30) for a in ages) + 0.5 ** (9 / 30), rel=1e-6)
    assert g["intent__act_demo_request__days_since"] == pytest.approx(9.0, abs=1e-6)


def test_window_bounds() -> None:
    cfg = FeatureConfig(windows_days=(7,))
    leads = one_lead()
    acts = make_acts(("L1", T0 - pd.Timedelta(days=7, seconds=1), "email_open"),
                     ("L1", T0 - pd.Timedelta(days=7) + pd.Timedelta(seconds=1), "email_open"))
    b = FeatureBuilder(cfg).fit(leads, acts)
    f = at(b, leads, acts, "L1", T0)
    assert f["intent__act_email_open__count_7d"] == 1
    assert f["intent__act_email_open__days_since"] == pytest.approx(7 - 1 / 86400, abs=1e-5)


def test_never_active_lead() -> None:
    leads = make_leads(dict(lead_id="L1", created_at=T0 - 10 * DAY), dict(lead_id="L2", created_at=T0 - 10 * DAY))
    acts = make_acts(("L2", T0 - DAY, "demo_request"))
    b = FeatureBuilder().fit(leads, acts)
    f = at(b, leads, acts, "L1", T0)
    days_since = [c for c in b.feature_names_ if c.startswith("intent__") and c.endswith("__days_since")]
    assert f[days_since].isna().all()
    counts = [c for c in b.feature_names_ if "__count_" in c or "__decay_" in c]
    assert (f[counts].astype(float) == 0).all()
    assert f["intent__evidence_stage"] == 0
    assert f["fit__lead_age_days"] == pytest.approx(10.0)


def test_event_at_as_of_is_excluded_and_just_before_included() -> None:
    leads = one_lead()
    acts = make_acts(("L1", T0, "demo_request"), ("L1", T0 + pd.Timedelta(microseconds=1), "demo_request"),
                     ("L1", T0 + DAY, "page_view", "/clinical-evidence"))
    b = FeatureBuilder().fit(leads, acts)
    f = at(b, leads, acts, "L1", T0)
    assert f["intent__act_demo_request__count_7d"] == 0
    assert f["intent__act_demo_request__decay_7d"] == 0
    assert np.isnan(f["intent__act_demo_request__days_since"])
    assert np.isnan(f["intent__any__days_since"])
    assert f["intent__evidence_stage"] == 0
    g = at(b, leads, acts, "L1", T0 + pd.Timedelta(milliseconds=1))
    assert g["intent__act_demo_request__count_7d"] == 1
    h = at(b, leads, acts, "L1", T0 + pd.Timedelta(milliseconds=2))
    assert h["intent__act_demo_request__count_7d"] == 2


def _stage(steps: list[tuple[float, str, str | None]]) -> float:
    leads = one_lead()
    acts = make_acts(*[("L1", T0 - days_ago * DAY, kind, detail) for days_ago, kind, detail in steps])
    b = FeatureBuilder().fit(leads, acts)
    return float(at(b, leads, acts, "L1", T0)["intent__evidence_stage"])


EVIDENCE = "/clinical-evidence"
CASE = "/case-studies/acme"
INTEG = "/integrations/epic"
PRICING = "/pricing"


@pytest.mark.parametrize(("steps", "stage"), [
    ([(9, "email_open", None)], 0),  # activity, none of it on the evidence path
    ([(9, "page_view", PRICING)], 0),  # pricing before any evidence does not count
    ([(9, "page_view", CASE), (8, "page_view", INTEG), (7, "page_view", PRICING)], 0),
    ([(9, "page_view", EVIDENCE)], 1),
    ([(9, "page_view", EVIDENCE), (8, "page_view", PRICING)], 1),  # skipping steps does not count
    ([(9, "page_view", EVIDENCE), (8, "page_view", CASE)], 2),
    ([(9, "page_view", CASE), (8, "page_view", EVIDENCE)], 1),  # case study before evidence: not a step
    ([(9, "page_view", EVIDENCE), (8, "page_view", CASE), (7, "page_view", INTEG)], 3),
    ([(9, "page_view", EVIDENCE), (8, "page_view", CASE), (7, "sandbox_signup", None)], 3),
    ([(9, "page_view", EVIDENCE), (8, "page_view", CASE), (7, "page_view", INTEG), (6, "page_view", PRICING)], 4),
    ([(9, "page_view", EVIDENCE), (8, "page_view", CASE), (7, "page_view", INTEG), (6, "page_view", "/roi-calculator")],
     4),
    ([(10, "page_view", PRICING), (9, "page_view", EVIDENCE), (8, "page_view", CASE), (7, "page_view", INTEG)], 3),
    ([(10, "page_view", PRICING), (9, "page_view", EVIDENCE), (8, "page_view", CASE), (7, "page_view", INTEG),
      (1, "page_view", PRICING)], 4),
    ([(9, "page_view", INTEG), (8, "page_view", EVIDENCE), (7, "page_view", CASE)], 2),
])
def test_evidence_stage_counts_steps_in_order(steps: list, stage: int) -> None:
    assert _stage(steps) == stage


def test_evidence_stage_grows_with_time() -> None:
    leads = one_lead()
    acts = make_acts(("L1", T0 - 30 * DAY, "page_view", EVIDENCE), ("L1", T0 - 20 * DAY, "page_view", CASE),
                     ("L1", T0 - 10 * DAY, "page_view", INTEG), ("L1", T0, "page_view", PRICING))
    b = FeatureBuilder().fit(leads, acts)
    snaps = pd.DataFrame({"lead_id": "L1", "as_of": [T0 - 31 * DAY, T0 - 25 * DAY, T0 - 15 * DAY, T0,
                                                     T0 + pd.Timedelta(seconds=1)]})
    assert b.transform(leads, acts, snaps)["intent__evidence_stage"].tolist() == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------ fit


def test_free_mail_flag() -> None:
    emails = pd.Series(["ana@Gmail.com ", "bo@mercy-health.org", None, "not-an-email", "c@yahoo.co.uk",
                        "d@gmail.com.evil.org"])
    flag = fitf.free_mail_flag(emails)
    np.testing.assert_array_equal(flag, [1.0, 0.0, np.nan, np.nan, 1.0, 0.0])


def test_geography() -> None:
    country = pd.Series(["US", "us", None, "CA", "GB", "US", None, "US", "", "US"])
    state = pd.Series(["CA", "tx", "NY", "ON", None, None, None, "PR", "MA", "ZZ"])
    assert list(fitf.geography(country, state)) == [
        "us_west", "us_south", "us_northeast", "canada", "non_us", "us_unknown_state", None, "us_territory",
        "us_northeast", "us_unknown_state"]


def test_fit_facts_through_the_builder() -> None:
    cfg = FeatureConfig(min_category_count=1)
    leads = make_leads(
        dict(lead_id="E1", created_at=T0 - 5 * DAY, org_type="employer", employee_count=500.0, email="a@acme.com",
             country="US", state="WA", bed_count=np.nan, covered_lives=np.nan),
        dict(lead_id="E2", created_at=T0 - 5 * DAY, org_type="employer", employee_count=499.0,
             email="b@gmail.com", country="CA", state="ON", bed_count=np.nan, covered_lives=np.nan),
        dict(lead_id="H1", created_at=T0 - 5 * DAY, org_type="hospital", employee_count=5000.0, email=None,
             country="DE", state=None, bed_count=250.0, covered_lives=np.nan),
        dict(lead_id="P1", created_at=T0 - 5 * DAY, org_type="payer", employee_count=np.nan, email="c@plan.com",
             country=None, state=None, bed_count=np.nan, covered_lives=0.0),
        dict(lead_id="E3", created_at=T0 - 5 * DAY, org_type="Employer ", employee_count=np.nan,
             email="d@x.org", country=None, state=None, bed_count=np.nan, covered_lives=1_000_000.0),
    )
    b = FeatureBuilder(cfg).fit(leads, make_acts())
    X = b.transform(leads, make_acts(), pd.DataFrame({"lead_id": leads["lead_id"], "as_of": T0})).set_axis(
        leads["lead_id"])
    np.testing.assert_array_equal(X["fit__employer_500_plus"], [1.0, 0.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(X["fit__free_mail"], [0.0, 1.0, np.nan, 0.0, 0.0])
    np.testing.assert_allclose(X["fit__log10_employees"], [np.log10(500), np.log10(499), np.log10(5000), np.nan,
                                                           np.nan], rtol=1e-6)
    np.testing.assert_allclose(X["fit__log10_beds"], [np.nan, np.nan, np.log10(250), np.nan, np.nan], rtol=1e-6)
    np.testing.assert_allclose(X["fit__log10_covered_lives"], [np.nan, np.nan, np.nan, 0.0, 6.0], rtol=1e-6)
    assert X["fit__geography"].astype(str).tolist() == ["us_west", "canada", "non_us", "unknown", "unknown"]
    assert X["fit__org_type"].astype(str).tolist() == ["employer", "employer", "hospital", "payer", "employer"]
    assert (X["fit__lead_age_days"] == 5).all()


def test_categorical_levels_other_and_unknown() -> None:
    cfg = FeatureConfig(min_category_count=2)
    leads = make_leads(
        *[dict(lead_id=f"A{i}", created_at=T0 - 9 * DAY, ehr_vendor=v, lead_source=s)
          for i, (v, s) in enumerate([("epic", "webinar"), ("epic", "webinar"), ("Meditech", "referral"),
                                      ("meditech ", "referral"), ("athenahealth", "conference"),
                                      (None, None)])])
    b = FeatureBuilder(cfg).fit(leads, make_acts())
    # rare at fit (athenahealth seen once) -> grouped into other; other and unknown always exist
    assert b.categories_["ehr_vendor"] == ["epic", "meditech", "other", "unknown"]
    new = make_leads(
        dict(lead_id="N1", created_at=T0 - DAY, ehr_vendor="oracle_health", lead_source="partner"),  # unseen
        dict(lead_id="N2", created_at=T0 - DAY, ehr_vendor=None, lead_source=None),  # missing
        dict(lead_id="N3", created_at=T0 - DAY, ehr_vendor=" EPIC", lead_source="Webinar"),  # case, spaces
        dict(lead_id="N4", created_at=T0 - DAY, ehr_vendor="athenahealth", lead_source=""),  # rare / empty
    )
    X = b.transform(new, make_acts(), pd.DataFrame({"lead_id": new["lead_id"], "as_of": T0}))
    assert X["fit__ehr_vendor"].astype(str).tolist() == ["other", "unknown", "epic", "other"]
    assert X["fit__lead_source"].astype(str).tolist() == ["other", "unknown", "webinar", "unknown"]
    assert isinstance(X["fit__ehr_vendor"].dtype, pd.CategoricalDtype)
    assert list(X["fit__ehr_vendor"].cat.categories) == b.categories_["ehr_vendor"]


def test_a_refitted_builder_forgets_what_it_remembered_from_its_last_fit() -> None:
    """A builder remembers per fit what a service request would otherwise redo (category codes,
    intent names, each page's family); fitted again on other data it must transform exactly as
    a new builder fitted on that data."""
    cfg = FeatureConfig(min_category_count=2)
    first = make_leads(*[dict(lead_id=f"A{i}", created_at=T0 - 9 * DAY, ehr_vendor="epic") for i in range(3)])
    first_acts = make_acts(*[("A0", T0 - (i + 1) * DAY, "page_view", "/webinars/x") for i in range(3)])
    second = make_leads(*[dict(lead_id=f"B{i}", created_at=T0 - 9 * DAY, ehr_vendor=v)
                          for i, v in enumerate(["meditech", "meditech", "epic", "cerner", "cerner"])])
    second_acts = make_acts(*[("B0", T0 - (i + 1) * DAY, "page_view", "/events/himss") for i in range(3)],
                            *[("B1", T0 - (i + 1) * DAY, "page_view", "/webinars/y") for i in range(3)])
    snapshots = pd.DataFrame({"lead_id": second["lead_id"], "as_of": T0})
    reused = FeatureBuilder(cfg).fit(first, first_acts)
    reused.transform(first, first_acts, pd.DataFrame({"lead_id": first["lead_id"], "as_of": T0}))
    reused.fit(second, second_acts)
    fresh = FeatureBuilder(cfg).fit(second, second_acts)
    assert reused.families_ == fresh.families_ and "page:section:events" in fresh.families_
    pd.testing.assert_frame_equal(reused.transform(second, second_acts, snapshots),
                                  fresh.transform(second, second_acts, snapshots))


def test_max_categories_keeps_the_most_frequent() -> None:
    cfg = FeatureConfig(min_category_count=1, max_categories=4)
    values = ["payer"] * 5 + ["hospital"] * 4 + ["employer"] * 3 + ["government"] * 2
    leads = make_leads(*[dict(lead_id=f"A{i}", created_at=T0 - DAY, org_type=v) for i, v in enumerate(values)])
    b = FeatureBuilder(cfg).fit(leads, make_acts())
    assert b.categories_["org_type"] == ["hospital", "payer", "other", "unknown"]


def test_extra_columns_numeric_and_categorical() -> None:
    cfg = FeatureConfig(min_category_count=1, exclude_columns=("status_after_call",))
    leads = make_leads(
        dict(lead_id="A", created_at=T0 - DAY, fte_budget="120", product_interest="RPM", status_after_call="won",
             first_name="Ana", _internal=1),
        dict(lead_id="B", created_at=T0 - DAY, fte_budget="80.5", product_interest="virtual_care",
             status_after_call="lost", first_name="Bo", _internal=2),
        dict(lead_id="C", created_at=T0 - DAY, fte_budget=None, product_interest=None, status_after_call=None,
             first_name="Cy", _internal=3),
    )
    b = FeatureBuilder(cfg).fit(leads, make_acts())
    assert b.extras_ == {"fte_budget": "numeric", "product_interest": "categorical"}
    X = b.transform(leads, make_acts(), pd.DataFrame({"lead_id": leads["lead_id"], "as_of": T0}))
    np.testing.assert_array_equal(X["extra__fte_budget"], np.array([120, 80.5, np.nan], np.float32))
    assert X["extra__product_interest"].astype(str).tolist() == ["rpm", "virtual_care", "unknown"]
    assert not any("status" in c or "first_name" in c or "internal" in c for c in b.feature_names_)


# ------------------------------------------------------------------------ committee


def committee_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = make_leads(
        dict(lead_id="A", created_at=T0 - 100 * DAY, account_id="ACC1", job_title="CISO"),
        dict(lead_id="B", created_at=T0 - 100 * DAY, account_id="ACC1", job_title="CFO"),
        dict(lead_id="C", created_at=T0 - 100 * DAY, account_id="ACC1", job_title="CMIO"),
        dict(lead_id="E", created_at=T0 + 1 * DAY, account_id="ACC1", job_title="Chief Compliance Officer"),
        dict(lead_id="D", created_at=T0 - 100 * DAY, account_id=None, job_title="CFO"),
        dict(lead_id="X", created_at=T0 - 100 * DAY, account_id="ACC2", job_title="CMIO"),
    )
    acts = make_acts(
        ("B", T0 - 10 * DAY, "email_open"),  # not high intent
        ("B", T0 - 10 * DAY, "page_view", "/pricing"),  # high intent
        ("C", T0 - 40 * DAY, "demo_request"),  # high intent, outside the 30-day window
        ("A", T0 - 5 * DAY, "demo_request"),  # A's own
        ("D", T0 - 1 * DAY, "demo_request"),  # no account
        ("X", T0 - 1 * DAY, "demo_request"),  # another account
        ("E", T0 + 2 * DAY, "demo_request"),  # after as_of
    )
    return leads, acts


COMMITTEE = ["account__committee_clinical_champion", "account__committee_it_security",
             "account__committee_finance", "account__committee_compliance"]


def test_committee_features_hand_made_account() -> None:
    leads, acts = committee_world()
    b = FeatureBuilder(FeatureConfig(committee_window_days=30)).fit(leads, acts)
    X = b.transform(leads, acts, pd.DataFrame({"lead_id": ["A", "B", "C", "D"], "as_of": T0})).set_axis(
        ["A", "B", "C", "D"])
    # A (it_security): finance (B, 10 days ago) active; clinical champion C was 40 days ago; A's own never counts
    assert X.loc["A", COMMITTEE].tolist() == [0, 0, 1, 0]
    assert X.loc["A", "account__committee_roles_active"] == 1
    assert X.loc["A", "account__engaged_leads"] == 1
    assert X.loc["A", "account__known_leads"] == 2  # E is created after as_of
    # B (finance) sees A (it_security); its own finance activity does not count
    assert X.loc["B", COMMITTEE].tolist() == [0, 1, 0, 0]
    assert X.loc["B", "account__engaged_leads"] == 1
    # C sees A and B
    assert X.loc["C", COMMITTEE].tolist() == [0, 1, 1, 0]
    assert X.loc["C", "account__committee_roles_active"] == 2
    assert X.loc["C", "account__engaged_leads"] == 2
    assert X.loc["C", "account__known_leads"] == 2
    # no account: every account feature is missing
    account_cols = [c for c in b.feature_names_ if c.startswith("account__")]
    assert X.loc["D", account_cols].isna().all()
    assert X.loc[["A", "B", "C"], account_cols].notna().all().all()


def test_committee_window_is_configurable() -> None:
    leads, acts = committee_world()
    b = FeatureBuilder(FeatureConfig(committee_window_days=45)).fit(leads, acts)
    f = at(b, leads, acts, "A", T0)
    assert f[COMMITTEE].tolist() == [1, 0, 1, 0]
    assert f["account__engaged_leads"] == 2


def test_own_role_colleague_counts_but_self_does_not() -> None:
    leads, acts = committee_world()
    leads = pd.concat([leads, make_leads(dict(lead_id="A2", created_at=T0 - 50 * DAY, account_id="ACC1",
                                              job_title="Chief Information Security Officer"))],
                      ignore_index=True)
    b = FeatureBuilder().fit(leads, acts)
    X = b.transform(leads, acts, pd.DataFrame({"lead_id": ["A", "A2"], "as_of": T0})).set_axis(["A", "A2"])
    assert X.loc["A", "account__committee_it_security"] == 0  # A2 is quiet, A's own activity excluded
    assert X.loc["A2", "account__committee_it_security"] == 1  # A (same role) was active
    assert X.loc["A", "account__known_leads"] == 3
    assert X.loc["A2", "account__engaged_leads"] == 2  # A and B


def test_account_intent_excludes_own_events() -> None:
    leads, acts = committee_world()
    b = FeatureBuilder(FeatureConfig(account_half_life_days=30.0)).fit(leads, acts)
    X = b.transform(leads, acts, pd.DataFrame({"lead_id": ["A", "B", "C", "X"], "as_of": T0})).set_axis(
        ["A", "B", "C", "X"])
    col = "account__intent_decay_30d"
    # A sees B's pricing view (10 days) and C's demo request (40 days); not its own demo request nor emails
    assert X.loc["A", col] == pytest.approx(0.5 ** (10 / 30) + 0.5 ** (40 / 30), rel=1e-6)
    assert X.loc["B", col] == pytest.approx(0.5 ** (5 / 30) + 0.5 ** (40 / 30), rel=1e-6)
    assert X.loc["C", col] == pytest.approx(0.5 ** (5 / 30) + 0.5 ** (10 / 30), rel=1e-6)
    assert X.loc["X", col] == 0  # alone in its account: its own demo request is not account intent


def test_account_intent_ignores_events_older_than_ten_half_lives() -> None:
    leads, _ = committee_world()
    acts = make_acts(("B", T0 - 299 * DAY, "demo_request"), ("C", T0 - 301 * DAY, "demo_request"))
    b = FeatureBuilder(FeatureConfig(account_half_life_days=30.0)).fit(leads, acts)
    f = at(b, leads, acts, "A", T0)
    assert f["account__intent_decay_30d"] == pytest.approx(0.5 ** (299 / 30), rel=1e-5)


def test_blank_account_id_is_no_account() -> None:
    leads = make_leads(dict(lead_id="A", created_at=T0 - DAY, account_id="  "),
                       dict(lead_id="B", created_at=T0 - DAY, account_id=""),
                       dict(lead_id="C", created_at=T0 - DAY, account_id=None))
    acts = make_acts(("B", T0 - 0.5 * DAY, "demo_request"))
    b = FeatureBuilder().fit(leads, acts)
    X = b.transform(leads, acts, pd.DataFrame({"lead_id": ["A", "B", "C"], "as_of": T0}))
    assert X[[c for c in b.feature_names_ if c.startswith("account__")]].isna().all().all()


def test_leads_without_account_column() -> None:
    leads = make_leads(dict(lead_id="A", created_at=T0 - DAY))
    b = FeatureBuilder().fit(leads, make_acts())
    f = at(b, leads, make_acts(), "A", T0)
    assert f[[c for c in b.feature_names_ if c.startswith("account__")]].isna().all()


def test_colleague_created_after_t_is_invisible_even_with_earlier_activity() -> None:
    # Marketing automation attaches a visitor's anonymous page views to the lead it
    # becomes; before that lead exists in the CRM nobody can see them.
    leads, acts = committee_world()
    early = make_acts(("E", T0 - 3 * DAY, "page_view", "/pricing"), ("E", T0 - 2 * DAY, "demo_request"))
    b = FeatureBuilder().fit(leads, acts)
    snaps = pd.DataFrame({"lead_id": ["A", "B", "C"], "as_of": T0})
    before = b.transform(leads, acts, snaps)
    after = b.transform(leads, pd.concat([acts, early], ignore_index=True), snaps)
    pd.testing.assert_frame_equal(before, after)
    assert (after["account__engaged_leads"] <= after["account__known_leads"]).all()
    # once E exists, the same activity counts for its colleagues
    later = b.transform(leads, pd.concat([acts, early], ignore_index=True),
                        pd.DataFrame({"lead_id": ["A"], "as_of": [T0 + 1 * DAY + pd.Timedelta(seconds=1)]}))
    assert later["account__committee_compliance"].iloc[0] == 1
    assert later["account__known_leads"].iloc[0] == 3
    assert later["account__engaged_leads"].iloc[0] == 2  # B and E (C's activity is 41 days old)
    assert later["account__intent_decay_30d"].iloc[0] == pytest.approx(
        0.5 ** (11 / 30) + 0.5 ** (41 / 30) + 0.5 ** (4 / 30) + 0.5 ** (3 / 30), rel=1e-5)


def test_no_snapshot_rows_give_an_empty_block_with_every_feature() -> None:
    leads = one_lead()
    acts = make_acts(("L1", "2026-03-01T00:00:00Z", "page_view", PRICING), ("L1", "2026-03-02T00:00:00Z",
                                                                           "demo_request", None))
    builder = FeatureBuilder().fit(leads, acts)
    none = pd.DataFrame({"lead_id": pd.Series([], dtype=str), "as_of": pd.Series([], dtype="datetime64[ns, UTC]")})
    block = builder.transform(leads, acts, none)
    assert len(block) == 0 and list(block.columns) == builder.feature_names_
