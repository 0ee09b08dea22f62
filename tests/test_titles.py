"""Job-title parser: real-world variants, committee roles, the Series API, fuzzing and speed."""

from __future__ import annotations

import logging
import random
import re

import numpy as np
import pandas as pd
import pytest

from mqlscore.features import titles as titles_module
from mqlscore.features.titles import (
    COMMITTEE_ROLES,
    PERSONA_LABELS,
    PERSONAS,
    SENIORITIES,
    TitleParse,
    parse_title,
    parse_titles,
)

U = "unknown"

# (title as typed, expected persona, expected seniority)
CASES: list[tuple[object, str, str]] = [
    # digital_health_exec
    ("Chief Digital Health Officer", "digital_health_exec", "c_level"),
    ("CDHO", "digital_health_exec", "c_level"),
    ("CDO", "digital_health_exec", "c_level"),
    ("Chief Digital Officer", "digital_health_exec", "c_level"),
    ("Chief Innovation Officer", "digital_health_exec", "c_level"),
    ("VP Digital Innovation", "digital_health_exec", "vp"),
    ("VICE PRESIDENT DIGITAL INNOVATION", "digital_health_exec", "vp"),
    ("vp digital innovation", "digital_health_exec", "vp"),
    ("Digital Innovation VP", "digital_health_exec", "vp"),
    ("V.P. Digital Health", "digital_health_exec", "vp"),
    ("VP, Digital Health", "digital_health_exec", "vp"),
    ("VP - Digital Health", "digital_health_exec", "vp"),
    ("VP/Digital Health", "digital_health_exec", "vp"),
    ("VP \u2013 Digital Health", "digital_health_exec", "vp"),  # en dash
    ("\uff36\uff30 Digital Health", "digital_health_exec", "vp"),  # full-width letters
    ("SVP Digital Transformation", "digital_health_exec", "vp"),
    ("Dir. Virtual Care", "digital_health_exec", "director"),
    ("Director, Telehealth Programs", "digital_health_exec", "director"),
    ("Telehealth Programs, Director", "digital_health_exec", "director"),
    ("Director, Tele-Health", "digital_health_exec", "director"),
    ("  vp digital innovation - North Region  ", "digital_health_exec", "vp"),
    ("VP Digital Health | Acme Health Partners", "digital_health_exec", "vp"),
    ("Digital Health Lead", "digital_health_exec", "manager"),
    # clinical_transformation
    ("VP Clinical Transformation", "clinical_transformation", "vp"),
    ("Clinical Transformation, Vice President", "clinical_transformation", "vp"),
    ("VP Population Health", "clinical_transformation", "vp"),
    ("Sr Dir Population Health", "clinical_transformation", "director"),
    ("Chief Transformation Officer", "clinical_transformation", "c_level"),
    ("Director, Value-Based Care", "clinical_transformation", "director"),
    ("Care Transformation Director (Interim)", "clinical_transformation", "director"),
    # clinical_executive
    ("CMIO", "clinical_executive", "c_level"),
    ("cmio", "clinical_executive", "c_level"),
    ("CMO", "clinical_executive", "c_level"),
    ("Chief Medical Officer", "clinical_executive", "c_level"),
    ("Chief Medical Information Officer", "clinical_executive", "c_level"),
    ("Chief Medical Informatics Officer", "clinical_executive", "c_level"),
    ("Chief Nursing Informatics Officer", "clinical_executive", "c_level"),
    ("CNIO", "clinical_executive", "c_level"),
    ("CNO", "clinical_executive", "c_level"),
    ("Acting CMIO", "clinical_executive", "c_level"),
    ("Associate CMIO", "clinical_executive", "vp"),
    ("Associate Chief Medical Officer", "clinical_executive", "vp"),
    ("VP Medical Affairs", "clinical_executive", "vp"),
    ("Medical Director", "clinical_executive", "director"),
    ("M\u00e9dical Director", "clinical_executive", "director"),  # accent
    ("Director of Nursing", "clinical_executive", "director"),
    ("Chief of Surgery", "clinical_executive", "director"),
    ("Division Chief, Cardiology", "clinical_executive", "director"),
    ("Physician Executive", "clinical_executive", "director"),
    # payer_clinical
    ("VP Clinical Programs", "payer_clinical", "vp"),
    ("Director of Care Management", "payer_clinical", "director"),
    ("Care Management, Director of", "payer_clinical", "director"),
    ("VP Utilization Management", "payer_clinical", "vp"),
    ("VP Health Services", "payer_clinical", "vp"),
    ("Medical Director, Care Management", "payer_clinical", "director"),
    ("Medical Director - Utilization Management", "payer_clinical", "director"),
    # benefits_leader
    ("VP Benefits", "benefits_leader", "vp"),
    ("Vice President, Total Rewards", "benefits_leader", "vp"),
    ("Head of Benefits & Wellbeing", "benefits_leader", "director"),
    ("Head of Benefits and Well-Being", "benefits_leader", "director"),
    ("Chief People Officer", "benefits_leader", "c_level"),
    ("CHRO", "benefits_leader", "c_level"),
    ("Benefits Manager", "benefits_leader", "manager"),
    ("Benefits Mgr", "benefits_leader", "manager"),
    # growth_leader
    ("VP Growth", "growth_leader", "vp"),
    ("Head of Growth", "growth_leader", "director"),
    ("Head of Member Acquisition", "growth_leader", "director"),
    ("Chief Marketing Officer", "growth_leader", "c_level"),
    ("CMO, Marketing & Brand", "growth_leader", "c_level"),
    ("Chief Growth Officer", "growth_leader", "c_level"),
    ("VP Marketing", "growth_leader", "vp"),
    ("VP Partnerships", "growth_leader", "vp"),
    ("Director Growth Marketing", "growth_leader", "director"),
    # it_security
    ("CISO", "it_security", "c_level"),
    ("Chief Information Security Officer", "it_security", "c_level"),
    ("Director of Information Security", "it_security", "director"),
    ("Information Security, Director of", "it_security", "director"),
    ("InfoSec Manager", "it_security", "manager"),
    ("Info Sec Analyst", "it_security", "individual"),
    ("Dir. Cybersecurity", "it_security", "director"),
    ("Cyber Security Engineer", "it_security", "individual"),
    ("Security Architect", "it_security", "individual"),
    ("HIPAA Security Officer", "it_security", "director"),
    # it_leader
    ("CIO", "it_leader", "c_level"),
    ("Chief Information Officer", "it_leader", "c_level"),
    ("CTO", "it_leader", "c_level"),
    ("Chief Data Officer", "it_leader", "c_level"),
    ("VP IT", "it_leader", "vp"),
    ("VP of I.T.", "it_leader", "vp"),
    ("Information Technology Director", "it_leader", "director"),
    ("Director of Interoperability", "it_leader", "director"),
    ("Clinical Applications Director", "it_leader", "director"),
    ("Epic Application Manager", "it_leader", "manager"),
    ("Epic Application Mgr", "it_leader", "manager"),
    ("Cerner Analyst", "it_leader", "individual"),
    ("Integration Engineer", "it_leader", "individual"),
    ("Interface Engineer", "it_leader", "individual"),
    # finance
    ("CFO", "finance", "c_level"),
    ("(Interim) CFO", "finance", "c_level"),
    ("VP Finance", "finance", "vp"),
    ("AVP Finance", "finance", "vp"),
    ("Controller", "finance", "director"),
    ("Director of Finance", "finance", "director"),
    ("Director of FP&A", "finance", "director"),
    ("Director of FP and A", "finance", "director"),
    ("VP, Revenue Cycle", "finance", "vp"),
    ("Revenue Cycle, VP", "finance", "vp"),
    ("Financial Analyst", "finance", "individual"),
    ("Treasurer", "finance", "director"),
    # compliance_legal
    ("Chief Compliance Officer", "compliance_legal", "c_level"),
    ("CCO", "compliance_legal", "c_level"),
    ("Privacy Officer", "compliance_legal", "director"),
    ("HIPAA Privacy Officer", "compliance_legal", "director"),
    ("HIPAA Privacy & Security Officer", "compliance_legal", "director"),
    ("General Counsel", "compliance_legal", "c_level"),
    ("Associate General Counsel", "compliance_legal", "director"),
    ("Associate Counsel", "compliance_legal", "individual"),
    ("Attorney", "compliance_legal", "individual"),
    ("Director of Compliance", "compliance_legal", "director"),
    ("Risk Management Director", "compliance_legal", "director"),
    # procurement
    ("VP Supply Chain", "procurement", "vp"),
    ("Procurement Director", "procurement", "director"),
    ("Strategic Sourcing Manager", "procurement", "manager"),
    ("Strategic Sourcing Mgr", "procurement", "manager"),
    ("Purchasing Manager", "procurement", "manager"),
    ("Contract Manager", "procurement", "manager"),
    ("Vendor Management Lead", "procurement", "manager"),
    # clinician
    ("Physician", "clinician", "individual"),
    ("MD", "clinician", "individual"),
    ("D.O.", "clinician", "individual"),
    ("RN", "clinician", "individual"),
    ("Registered Nurse", "clinician", "individual"),
    ("Nurse Practitioner", "clinician", "individual"),
    ("NP", "clinician", "individual"),
    ("PA-C", "clinician", "individual"),
    ("Physician Assistant", "clinician", "individual"),
    ("Hospitalist", "clinician", "individual"),
    ("Psychiatrist", "clinician", "individual"),
    ("Psychologist", "clinician", "individual"),
    ("Licensed Therapist", "clinician", "individual"),
    ("Clinical Pharmacist", "clinician", "individual"),
    ("Orthopedic Surgeon", "clinician", "individual"),
    ("Family Medicine Physician", "clinician", "individual"),
    ("Telehealth Nurse", "clinician", "individual"),
    ("Medical Resident", "clinician", "individual"),
    ("Chief Resident", "clinician", "individual"),
    ("Nurse Manager", "clinician", "manager"),
    # operations
    ("COO", "operations", "c_level"),
    ("Practice Manager", "operations", "manager"),
    ("Director of Operations", "operations", "director"),
    ("Operations Manager", "operations", "manager"),
    ("Office Manager", "operations", "manager"),
    ("Administrator", "operations", "manager"),
    ("Project Manager", "operations", "manager"),
    ("Business Analyst", "operations", "individual"),
    ("Administrative Assistant", "operations", "individual"),
    ("Executive Assistant to the CEO", "operations", "individual"),
    # marketing_staff
    ("Marketing Coordinator", "marketing_staff", "individual"),
    ("Marketing Specialist", "marketing_staff", "individual"),
    ("Marketing Manager", "marketing_staff", "manager"),
    ("Communications Specialist", "marketing_staff", "individual"),
    ("Content Strategist", "marketing_staff", "individual"),
    ("Digital Marketing Specialist", "marketing_staff", "individual"),
    # student
    ("Student", "student", "individual"),
    ("MPH Student", "student", "individual"),
    ("Medical Student", "student", "individual"),
    ("Nursing Student", "student", "individual"),
    ("Intern", "student", "individual"),
    ("INTERN", "student", "individual"),
    ("Graduate Research Assistant", "student", "individual"),
    # job_seeker
    ("Job Seeker", "job_seeker", U),
    ("Looking for opportunities", "job_seeker", U),
    ("Seeking new role", "job_seeker", U),
    ("Open to work", "job_seeker", U),
    ("#OpenToWork", U, U),  # glued hashtag: not a phrase we can split reliably
    ("Unemployed", "job_seeker", U),
    ("Between roles", "job_seeker", U),
    ("Retired", "job_seeker", U),
    ("Retired CFO", "job_seeker", "c_level"),
    # vendor
    ("Account Executive", "vendor", "individual"),
    ("Sr. Account Executive", "vendor", "individual"),
    ("Sales Director", "vendor", "director"),
    ("Sales Rep", "vendor", "individual"),
    ("SDR", "vendor", "individual"),
    ("BDR", "vendor", "individual"),
    ("Business Development Manager", "vendor", "manager"),
    ("Consultant", "vendor", "individual"),
    ("Principal Consultant, Healthcare", "vendor", "individual"),
    ("Partner, Healthcare Practice", "vendor", "vp"),
    ("Recruiter", "vendor", "individual"),
    ("Physician Recruiter", "vendor", "individual"),
    # seniority only, persona unknown
    ("Senior Director", U, "director"),
    ("Sr. Director", U, "director"),
    ("Director", U, "director"),
    ("Director - North Region", U, "director"),
    ("Vice President", U, "vp"),
    ("EVP", U, "vp"),
    ("CEO", U, "c_level"),
    ("President", U, "c_level"),
    ("Co-Founder & CEO", U, "c_level"),
    ("Owner", U, "c_level"),
    ("CPO", U, "c_level"),
    ("Manager", U, "manager"),
    ("Supervisor", U, "manager"),
    ("Team Lead", U, "manager"),
    ("Coordinator", U, "individual"),
    ("Analyst", U, "individual"),
    # substring traps: only whole words count
    ("Coordinator of Government Affairs", U, "individual"),  # c-o-o, r-n
    ("Admin", "operations", "manager"),  # no "MD" inside
    ("Partnerships Coordinator", "marketing_staff", "individual"),  # no "PA"
    ("Product Owner", U, "individual"),
    ("Dosimetrist", U, U),  # no "DO"
    ("Pharmacy Director", "clinical_executive", "director"),  # no "PA", leadership of a clinical service
    # garbage and non-text
    ("", U, U),
    ("   ", U, U),
    ("-", U, U),
    ("N/A", U, U),
    ("asdf qwerty", U, U),
    ("12345", U, U),
    ("jane.doe@acme-health.com", U, U),
    ("cfo@acme.org", U, U),
    ("https://www.linkedin.com/in/cmio-jane", U, U),
    ("\u4e2d\u6587\u804c\u4f4d", U, U),
    (None, U, U),
    (float("nan"), U, U),
    (42, U, U),
    (3.14, U, U),
    ("Director " * 2000 + "of Interoperability", U, "director"),  # cut to the first 256 characters
]


def _id(case: tuple[object, str, str]) -> str:
    return repr(case[0])[:40]


@pytest.mark.parametrize(("title", "persona", "seniority"), CASES, ids=[_id(c) for c in CASES])
def test_title_variants(title: object, persona: str, seniority: str) -> None:
    parsed = parse_title(title)
    assert (parsed.persona, parsed.seniority) == (persona, seniority)


def test_cases_cover_every_label() -> None:
    assert {p for _, p, _ in CASES} == set(PERSONAS)
    assert {s for _, _, s in CASES} == set(SENIORITIES)
    assert len(CASES) >= 100


def test_declared_labels() -> None:
    assert SENIORITIES == ("c_level", "vp", "director", "manager", "individual", "unknown")
    assert COMMITTEE_ROLES == ("clinical_champion", "it_security", "finance", "compliance")
    assert PERSONAS[-1] == "unknown" and len(set(PERSONAS)) == len(PERSONAS) == 18
    assert set(PERSONA_LABELS) == set(PERSONAS)
    assert all(label.strip() for label in PERSONA_LABELS.values())


COMMITTEE = {
    "Chief Digital Health Officer": "clinical_champion",
    "VP Clinical Transformation": "clinical_champion",
    "CMIO": "clinical_champion",
    "VP Clinical Programs": "clinical_champion",
    "VP Benefits": "clinical_champion",
    "VP Growth": "clinical_champion",
    "CISO": "it_security",
    "CIO": "it_security",
    "CFO": "finance",
    "Chief Compliance Officer": "compliance",
    "VP Supply Chain": "compliance",
    "Physician": "none",
    "Practice Manager": "none",
    "Marketing Coordinator": "none",
    "MPH Student": "none",
    "Open to work": "none",
    "Account Executive": "none",
    "Senior Director": "none",
}


@pytest.mark.parametrize(("title", "role"), COMMITTEE.items())
def test_committee_role_per_persona(title: str, role: str) -> None:
    assert parse_title(title).committee_role == role


def test_committee_examples_cover_every_persona() -> None:
    assert {parse_title(t).persona for t in COMMITTEE} == set(PERSONAS)


def test_committee_roles_are_declared() -> None:
    roles = {parse_title(t).committee_role for t, _, _ in CASES}
    assert roles <= {*COMMITTEE_ROLES, "none"}
    assert roles >= set(COMMITTEE_ROLES)


def test_parse_titles_matches_parse_title_row_by_row() -> None:
    values = ["VP Digital Innovation", None, float("nan"), 7, 7.5, "vp digital innovation", "CMIO", "CMIO",
              "", "Practice Manager", pd.NA, "jane@x.org", "Sr. Director", "VP Digital Innovation"]
    series = pd.Series(values, index=[10, 3, 3, 99, -1, 5, 6, 7, 8, 9, 11, 12, 13, 14], dtype=object)
    out = parse_titles(series)
    assert list(out.columns) == ["persona", "seniority", "committee_role"]
    assert out.index.equals(series.index)
    expected = [parse_title(v) for v in values]
    assert [TitleParse(*row) for row in out.itertuples(index=False)] == expected
    assert set(out["persona"].astype(str)) <= set(PERSONAS)
    assert set(out["seniority"].astype(str)) <= set(SENIORITIES)
    assert set(out["committee_role"].astype(str)) <= {*COMMITTEE_ROLES, "none"}


@pytest.mark.parametrize("dtype", ["str", "category", object])
def test_parse_titles_accepts_text_dtypes(dtype: object) -> None:
    series = pd.Series(["CISO", None, "Controller", "CISO"], dtype=dtype)
    assert parse_titles(series)["persona"].tolist() == ["it_security", "unknown", "finance", "it_security"]


def test_parse_titles_edge_inputs() -> None:
    assert parse_titles(pd.Series([], dtype=object)).shape == (0, 3)
    all_missing = parse_titles(pd.Series(None, index=range(3), dtype=object))
    assert all_missing["persona"].tolist() == ["unknown"] * 3
    assert all_missing["committee_role"].tolist() == ["none"] * 3
    odd = parse_titles(pd.Series([["VP"], {"a": 1}, "CFO"], dtype=object))
    assert odd["persona"].tolist() == ["unknown", "unknown", "finance"]


def test_parse_titles_parses_each_normal_form_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = titles_module._parse_normalised
    monkeypatch.setattr(titles_module, "_parse_normalised", lambda form: calls.append(form) or real(form))
    variants = ["VP Growth", "vp growth", "  VP  GROWTH ", "V.P. Growth", "Vice President Growth", "CFO", None]
    parse_titles(pd.Series(variants * 1000, dtype=object))
    assert len(calls) == 2  # "vp growth" and "cfo"; missing values are never parsed


def test_seeded_fuzz_never_raises_and_gives_declared_labels() -> None:
    rng = random.Random(20240601)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:/\\|@&-_()[]{}'\"!?#%+*=~`^"
        "\t\n\u2013\u2014\u2022\u00b7\u00a0\u200b\ufeff\u0301\u00e9\u00fc\u00df\u00f8\u03a9\u0416\u4e2d\U0001f642"
    )
    for _ in range(2_000):
        n = rng.randint(0, 120)
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(n))
        else:
            text = "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(n))
        parsed = parse_title(text)
        assert parsed.persona in PERSONAS
        assert parsed.seniority in SENIORITIES
        assert parsed.committee_role in {*COMMITTEE_ROLES, "none"}


def test_titles_are_never_logged_or_echoed(caplog: pytest.LogCaptureFixture) -> None:
    secret = "VP Digital Health jane.doe@secret-hospital.org"
    with caplog.at_level(logging.DEBUG):
        parsed = parse_title(secret)
        frame = parse_titles(pd.Series([secret, "jane.doe@secret-hospital.org"]))
    assert caplog.records == []
    assert parsed.persona == "digital_health_exec"
    assert "secret" not in repr(parsed) and "secret" not in frame.to_string()
    assert parse_title("jane.doe@secret-hospital.org") == TitleParse("unknown", "unknown", "none")


# --- Titles as the data generator writes them (listed here; nothing is read from mqlscore.synthetic) ---

GENERATOR_STYLE = {
    "Chief Digital Health Officer": "digital_health_exec", "CDHO": "digital_health_exec",
    "VP Digital Innovation": "digital_health_exec", "SVP Digital Transformation": "digital_health_exec",
    "Dir. Virtual Care": "digital_health_exec", "Director, Telehealth Programs": "digital_health_exec",
    "VP Clinical Transformation": "clinical_transformation", "VP Population Health": "clinical_transformation",
    "CMIO": "clinical_executive", "Chief Nursing Informatics Officer": "clinical_executive",
    "Associate CMIO": "clinical_executive",
    "VP Clinical Programs": "payer_clinical", "Director of Care Management": "payer_clinical",
    "VP Utilization Management": "payer_clinical",
    "VP Benefits": "benefits_leader", "Vice President, Total Rewards": "benefits_leader",
    "Head of Benefits & Wellbeing": "benefits_leader", "Chief People Officer": "benefits_leader",
    "VP Growth": "growth_leader", "Head of Member Acquisition": "growth_leader",
    "CISO": "it_security", "Security Architect": "it_security", "Dir. Cybersecurity": "it_security",
    "CIO": "it_leader", "Epic Application Manager": "it_leader", "Director of Interoperability": "it_leader",
    "Integration Engineer": "it_leader",
    "CFO": "finance", "Controller": "finance", "VP, Revenue Cycle": "finance", "Director of FP&A": "finance",
    "Chief Compliance Officer": "compliance_legal", "HIPAA Privacy & Security Officer": "compliance_legal",
    "Associate General Counsel": "compliance_legal",
    "VP Supply Chain": "procurement", "Strategic Sourcing Manager": "procurement", "Contract Manager": "procurement",
    "Physician": "clinician", "MD": "clinician", "RN": "clinician", "Hospitalist": "clinician",
    "Practice Manager": "operations", "COO": "operations",
    "Marketing Coordinator": "marketing_staff", "Content Strategist": "marketing_staff",
    "MPH Student": "student", "Graduate Research Assistant": "student", "Intern": "student",
    "Looking for opportunities": "job_seeker", "Open to work": "job_seeker",
    "Account Executive": "vendor", "SDR": "vendor", "Partner, Healthcare Practice": "vendor", "Consultant": "vendor",
}


def _invert_director_of(title: str) -> str:
    match = re.fullmatch(r"Director of (.+)", title)
    return f"{match.group(1)}, Director" if match else title


MANGLERS = {
    "lower": str.lower,
    "upper": str.upper,
    "no_commas": lambda t: t.replace(",", ""),
    "vp_spelled": lambda t: re.sub(r"\bVP\b", "Vice President", t),
    "vp_short": lambda t: t.replace("Vice President", "VP"),
    "senior_short": lambda t: t.replace("Senior", "Sr."),
    "director_short": lambda t: re.sub(r"\bDirector\b", "Dir.", t),
    "director_last": _invert_director_of,
    "manager_short": lambda t: t.replace("Manager", "Mgr"),
    "and_word": lambda t: re.sub(r"\s*&\s*", " and ", t),
    "ampersand": lambda t: t.replace(" and ", " & "),
    "region_suffix": lambda t: t + " - North Region",
    "spaces": lambda t: f"  {t}   ",
}


@pytest.mark.parametrize("mangle", MANGLERS)
def test_generator_style_titles_and_their_mangled_variants(mangle: str) -> None:
    for title, persona in GENERATOR_STYLE.items():
        clean = parse_title(title)
        assert clean.persona == persona, title
        variant = MANGLERS[mangle](title)
        assert parse_title(variant) == clean, (mangle, title)
