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
     "Visited the pricing page 3 days ago, 3 times in the last 30 days"),
    ("page:careers", {"intent__page_careers__days_since": 95.0}, "Looked at the careers pages 3 months ago"),
    ("act:security_review", {"intent__act_security_review__days_since": NAN}, "No security-review requests so far"),
    ("act:event_booth_scan", {"intent__act_event_booth_scan__days_since": 20.0},
     "Visited the booth at a conference 20 days ago"),
    ("page:section:solutions", {"intent__page_section_solutions__days_since": 2.0},
     "Visited the /solutions pages 2 days ago"),
    ("act:g2_intent_surge", {"intent__act_g2_intent_surge__days_since": 10.0}, "Had 'g2_intent_surge' activity 10 days ago"),
    ("recency", {"intent__any__days_since": 122.0}, "No activity for 122 days"),
    ("recency", {"intent__any__days_since": 4.0}, "Last active 4 days ago"),
    ("recency", {"intent__any__days_since": NAN}, "No tracked activity yet"),
    ("evidence_stage", {"intent__evidence_stage": 3.0},
     "Evidence path: step 3 of 4 (evidence, customer references, EHR integration, ROI/pricing)"),
    ("committee", {"account__committee_roles_active": 2.0, "account__committee_it_security": 1.0,
                   "account__committee_finance": 1.0, "account__committee_clinical_champion": 0.0,
                   "account__committee_compliance": 0.0},
     "2 more of the account's buying committee active this month: IT security, finance"),
    ("committee", {"account__committee_roles_active": 0.0},
     "No one else on the account's buying committee active this month"),
    ("committee", {"account__committee_roles_active": NAN}, "No account known, so no buying group"),
    ("account_engagement", {"account__engaged_leads": 3.0, "account__known_leads": 7.0},
     "3 colleague(s) engaged in the last 30 days, 7 in the CRM"),
    ("persona", {"fit__persona": "digital_health_exec"}, None),
    ("persona", {"fit__persona": "unknown"}, "Role not recognised from the job title"),
    ("org_type", {"fit__org_type": "health_system"}, "Organisation type: health system"),
    ("log10_employees", {"fit__log10_employees": 4.0}, "Organisation of about 10,000 employees"),
    ("free_mail", {"fit__free_mail": 1.0}, "Free-mail address"),
    ("free_mail", {"fit__free_mail": 0.0}, "Corporate email address"),
    ("employer_500_plus", {"fit__employer_500_plus": 1.0}, "Self-insured employer with 500+ employees"),
    ("ehr_vendor", {"fit__ehr_vendor": "unknown"}, "EHR vendor: not given"),
    ("lead_source", {"fit__lead_source": "referral"}, "Lead source: referral"),
])
def test_reason_sentences(signal: str, values: dict, expected: str | None) -> None:
    text = describe(signal, pd.Series(values, dtype=object))
    if expected is None:
        from mqlscore.features.titles import PERSONA_LABELS

        expected = f"Role: {PERSONA_LABELS['digital_health_exec']}"
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
    everything = repr(out) + line
    for personal in ("ada@mercy.org", "bob@gmail.com", "MPH Student", "mercy"):
        assert personal not in everything
