"""Reason texts: a table of feature values -> the sentence a sales rep reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlscore.explain import describe, reasons_for, reasons_text

NAN = float("nan")


@pytest.mark.parametrize(("signal", "values", "expected"), [
    ("act:baa_request", {"intent__act_baa_request__days_since": 6.2, "intent__act_baa_request__count_30d": 1},
     "Requested a BAA 6 days ago"),
    ("act:demo_request", {"intent__act_demo_request__days_since": 0.3}, "Requested a demo today"),
    ("act:demo_request", {"intent__act_demo_request__days_since": 1.5}, "Requested a demo yesterday"),
    ("page:pricing", {"intent__page_pricing__days_since": 3.0, "intent__page_pricing__count_30d": 3},
     "Visited the pricing page 3 times in the last month, most recently 3 days ago"),
    ("page:pricing", {"intent__page_pricing__days_since": 1.2, "intent__page_pricing__count_7d": 3,
                      "intent__page_pricing__count_30d": 5},
     "Visited the pricing page 3 times in the last week, most recently yesterday"),
    ("page:pricing", {"intent__page_pricing__days_since": 12.0, "intent__page_pricing__count_7d": 0,
                      "intent__page_pricing__count_30d": 1}, "Visited the pricing page 12 days ago"),
    ("page:careers", {"intent__page_careers__days_since": 95.0}, "Looked at the careers pages 3 months ago"),
    ("act:security_review", {"intent__act_security_review__days_since": NAN}, "No security-review requests so far"),
    ("act:event_booth_scan", {"intent__act_event_booth_scan__days_since": 20.0},
     "Visited the booth at a conference 20 days ago"),
    ("page:section:solutions", {"intent__page_section_solutions__days_since": 2.0},
     "Visited the /solutions pages 2 days ago"),
    ("act:g2_intent_surge", {"intent__act_g2_intent_surge__days_since": 10.0}, "Had 'g2_intent_surge' activity 10 days ago"),
    ("recency", {"intent__any__days_since": 122.0}, "No activity for 4 months"),
    ("recency", {"intent__any__days_since": 45.0}, "No activity for 45 days"),
    ("recency", {"intent__any__days_since": 4.0}, "Last active 4 days ago"),
    ("recency", {"intent__any__days_since": NAN}, "No tracked activity yet"),
    ("evidence_stage", {"intent__evidence_stage": 3.0},
     "Followed the evidence path 3 of 4 steps: clinical evidence, customer case studies, EHR integration"),
    ("evidence_stage", {"intent__evidence_stage": 0.0},
     "Has not started the evidence path (clinical evidence, case studies, integration, pricing)"),
    ("committee", {"account__committee_roles_active": 2.0, "account__committee_it_security": 1.0,
                   "account__committee_finance": 1.0, "account__committee_clinical_champion": 0.0,
                   "account__committee_compliance": 0.0},
     "Two more of the account's buying committee active this month: IT security, finance"),
    ("committee", {"account__committee_roles_active": 0.0},
     "No one else on the account's buying committee active this month"),
    ("committee", {"account__committee_roles_active": NAN}, "No account known, so no buying group"),
    ("account_engagement", {"account__engaged_leads": 3.0, "account__known_leads": 7.0},
     "3 colleagues engaged in the last 30 days, 7 in the CRM"),
    ("account_engagement", {"account__engaged_leads": 1.0, "account__known_leads": 2.0},
     "1 colleague engaged in the last 30 days, 2 in the CRM"),
    ("account_engagement", {"account__engaged_leads": 0.0, "account__known_leads": 4.0},
     "No colleagues engaged in the last 30 days (4 in the CRM)"),
    ("persona", {"fit__persona": "digital_health_exec"}, "Digital-health executive"),
    ("persona", {"fit__persona": "digital_health_exec", "fit__seniority": "vp", "fit__org_type": "health_system",
                 "fit__log10_beds": np.log10(412), "fit__log10_employees": 3.7},
     "VP-level digital-health executive at a 410-bed health system"),
    ("persona", {"fit__persona": "clinical_executive", "fit__seniority": "c_level", "fit__org_type": "payer",
                 "fit__log10_covered_lives": np.log10(1.24e6)},
     "Clinical executive (CMIO, CMO or CNO) at a health plan covering about 1.2 million lives"),
    ("persona", {"fit__persona": "benefits_leader", "fit__seniority": "director", "fit__org_type": "employer",
                 "fit__log10_employees": np.log10(8200)},
     "Director-level benefits or HR leader at an employer with about 8,200 employees"),
    ("persona", {"fit__persona": "it_leader", "fit__org_type": "unknown"}, "IT or EHR leader"),
    ("org_type", {"fit__org_type": "hospital", "fit__log10_beds": np.log10(800)}, "An 800-bed hospital"),
    ("persona", {"fit__persona": "unknown"}, "Role not recognised from the job title"),
    ("org_type", {"fit__org_type": "health_system"}, "A health system"),
    ("org_type", {"fit__org_type": "unknown"}, "Organisation type: not given"),
    ("log10_employees", {"fit__log10_employees": 4.0}, "Organisation of about 10,000 employees"),
    ("log10_employees", {"fit__log10_employees": np.float32("nan")}, "Organisation size (employees): not given"),
    ("persona", {"fit__persona": "finance", "fit__org_type": "hospital", "fit__log10_beds": np.float32("nan"),
                 "fit__log10_employees": np.float32("nan")}, "Finance leader at a hospital"),
    ("free_mail", {"fit__free_mail": 1.0}, "Free-mail address"),
    ("free_mail", {"fit__free_mail": 0.0}, "Corporate email address"),
    ("employer_500_plus", {"fit__employer_500_plus": 1.0}, "Self-insured employer with 500+ employees"),
    ("ehr_vendor", {"fit__ehr_vendor": "unknown"}, "EHR vendor: not given"),
    ("lead_source", {"fit__lead_source": "paid_search"}, "Came in through paid search"),
    ("ehr_vendor", {"fit__ehr_vendor": "epic"}, "Runs Epic as its EHR"),
    ("ehr_vendor", {"fit__ehr_vendor": "none"}, "Has no EHR"),
    ("geography", {"fit__geography": "us_midwest"}, "Based in the US Midwest"),
    ("seniority", {"fit__seniority": "c_level"}, "C-level title"),
    ("committee_role", {"fit__committee_role": "it_security"}, "Title makes them the buying committee's IT security"),
])
def test_reason_sentences(signal: str, values: dict, expected: str) -> None:
    text = describe(signal, pd.Series(values, dtype=object))
    assert text == expected


def test_reasons_are_grouped_ranked_and_never_carry_personal_text() -> None:
    X = pd.DataFrame({"intent__act_baa_request__days_since": [6.0, NAN], "fit__persona": ["cmio_cmo", "student"],
                      "email": ["ada@mercy.org", "bob@gmail.com"], "job_title": ["CMIO", "MPH Student"]})
    points = np.array([[14.2, 3.1, 0.01], [-0.5, -20.0, 0.0]])
    out = reasons_for(points, ["act:baa_request", "persona", "recency"], ["intent", "fit", "intent"], X, top=5)
    assert [r["signal"] for r in out[0]] == ["act:baa_request", "persona"]  # negligible points dropped
    assert out[0][0] == {"signal": "act:baa_request", "group": "intent", "text": "Requested a BAA 6 days ago",
                         "points": 14.2, "sign": "+"}
    assert out[1][0]["sign"] == "-" and out[1][0]["signal"] == "persona"
    line = reasons_text(out[0])
    assert line.startswith("Requested a BAA 6 days ago (+14)")
    assert reasons_text(out[1]) == "Student (-20, fit); No BAA requests so far (-0.5)"  # fit says so; no "-0"
    everything = repr(out) + line
    for personal in ("ada@mercy.org", "bob@gmail.com", "MPH Student", "mercy"):
        assert personal not in everything


HUGE = np.float32(np.log10(1e308))  # as the feature code stores it: a float32, rounded up past 10**308.25


@pytest.mark.parametrize(("signal", "values", "expected"), [
    ("log10_employees", {"fit__log10_employees": HUGE}, "Organisation of more than a billion employees"),
    ("log10_employees", {"fit__log10_employees": np.log10(2.3e6)}, "Organisation of about 2.3 million employees"),
    ("log10_employees", {"fit__log10_employees": 12.0}, "Organisation of more than a billion employees"),
    ("log10_beds", {"fit__log10_beds": HUGE}, "More than a billion beds"),
    ("log10_covered_lives", {"fit__log10_covered_lives": np.log10(1.5e8)}, "About 150 million covered lives"),
    ("org_type", {"fit__org_type": "hospital", "fit__log10_beds": HUGE}, "A hospital with more than a billion beds"),
    ("persona", {"fit__persona": "benefits_leader", "fit__org_type": "employer", "fit__log10_employees": HUGE},
     "Benefits or HR leader at an employer with more than a billion employees"),
    ("persona", {"fit__persona": "finance", "fit__org_type": "payer", "fit__log10_covered_lives": HUGE},
     "Finance leader at a health plan covering more than a billion lives"),
    ("log10_employees", {"fit__log10_employees": np.float32(np.inf)}, "Organisation of more than a billion employees"),
])
def test_huge_counts_read_as_words_not_hundreds_of_digits(signal: str, values: dict, expected: str) -> None:
    # An employee_count of 1e308 passes the contract (a whole, finite number) and once printed 300 digits.
    assert describe(signal, pd.Series(values, dtype=object)) == expected
