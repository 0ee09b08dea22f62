"""Job-title parser: a free-text job title -> persona, seniority and buying-committee role.

Leads type their titles into web forms and CRMs in every imaginable way
("V.P., Digital Health | Acme", "dir. virtual care (interim)", "CMIO", "Care
Management, Director of"). The scoring model needs three stable categorical fit
features from that text:

* ``persona`` -- the lead's place on the digital-health buyer map (:data:`PERSONAS`);
* ``seniority`` -- :data:`SENIORITIES`;
* ``committee_role`` -- the seat on a buying committee (:data:`COMMITTEE_ROLES`), or
  ``"none"``.

How it works
------------
1. **Normalise** (:func:`normalise_title`): cut to :data:`MAX_TITLE_CHARS`, fold
   unicode to ASCII (accents, full-width letters, dashes), lower-case, drop pasted
   e-mail addresses and web addresses, split into *segments* at ``|``, ``@``, ``;``,
   bullets and the word "at" (what follows is usually an organisation), collapse
   dotted acronyms (``V.P.`` -> ``vp``), turn ``&`` into ``and`` and every other
   punctuation mark into a space, then map each word through
   :data:`TOKEN_SYNONYMS` (``mgr`` -> ``manager``, ``svp`` -> ``vp``), make it
   singular, and join multi-word spellings with :data:`PHRASE_SYNONYMS`
   (``vice president`` -> ``vp``, ``fp and a`` -> ``fpa``).
2. **Match** whole words only: a rule phrase matches when its words appear
   *contiguously* in a segment, so "Director" never contains "DO", "Intern" never
   contains "RN" and word order between the role and its level is free ("Digital
   Innovation VP" = "VP Digital Innovation").
3. **Decide**: the seniority is the level of the first row of
   :data:`SENIORITY_RULES` that matches; the persona is that of the first row of
   :data:`PERSONA_RULES` that matches, whose seniority condition holds and whose
   ``unless`` phrases do not match. The first segment with any recognised word
   gives the answer. Nothing recognised -> ``unknown``.

Both tables are plain data written in ordinary words; each phrase is normalised
exactly as titles are, so a new row such as ``Rule("finance", "revenue integrity")``
needs no knowledge of the normaliser. ``@chief`` and ``@clinician`` in a phrase
stand for any entry of :data:`PHRASE_GROUPS`.

Decisions on ambiguous titles
-----------------------------
* A bare ``CMO`` is a Chief *Medical* Officer (``clinical_executive``), the usual
  reading among provider buyers; "Chief Marketing Officer" spelled out, or ``CMO``
  next to marketing / growth / brand words, is a ``growth_leader``.
* A bare ``CDO`` is a Chief Digital Officer (``digital_health_exec``) unless data or
  analytics words say Chief Data Officer (``it_leader``).
* A bare ``CCO`` is a Chief Compliance Officer; a bare ``CPO`` (People, Product,
  Privacy or Procurement) gets only its seniority; CEO, President, Founder and Owner
  carry no persona on their own.
* "Head of X" is ``director``; "Executive Director" is ``director``; "Managing
  Director" is ``c_level``; a deputy / associate / assistant of a C-level title
  ("Associate CMIO", "Deputy CIO") is ``vp``; a department chief ("Chief of
  Surgery", "Division Chief", "Chief of Staff") is ``director``; a "Chief Resident"
  is ``individual``; "Associate / Assistant General Counsel" is ``director``; a
  "Partner" is ``vp`` and a "Managing Partner" ``c_level``.
* "Coordinator" is ``individual``; "Lead", "Supervisor" and "Administrator" are
  ``manager`` (a system administrator is ``individual``).
* A medical resident or fellow is a clinician in training -> ``clinician``;
  students, interns and graduate research assistants -> ``student``.
* "HIPAA Privacy & Security Officer" -> ``compliance_legal``: privacy is checked
  before security, because that dual role normally sits in compliance. "HIPAA
  Security Officer" alone -> ``it_security``.
* Marketing leaders (director and above, "Head of Marketing") -> ``growth_leader``;
  the rest of marketing and all of communications -> ``marketing_staff``.
* A clinician below leadership level stays a ``clinician`` whatever the setting
  ("Telehealth Nurse", "RN Case Manager"); clinicians at director level and above
  with no more specific role are ``clinical_executive``.
* A functional topic beats a generic clinical leadership title: "Medical Director,
  Care Management" -> ``payer_clinical``, "Medical Director, Population Health" ->
  ``clinical_transformation``.
* Recruiters and talent acquisition -> ``vendor`` (they sell staffing, not buy);
  HR and people leaders -> ``benefits_leader``.
* Consultants are vendors before any topic ("Epic Consultant"); "Partner" is a vendor
  only when nothing more specific matches (company names such as "... Partners").

Privacy: a job title is personal data. Nothing here logs a title, puts it in an
exception message or keeps it after the call.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
NO_COMMITTEE = "none"

PERSONAS: tuple[str, ...] = (
    "digital_health_exec",
    "clinical_transformation",
    "clinical_executive",
    "payer_clinical",
    "benefits_leader",
    "growth_leader",
    "it_security",
    "it_leader",
    "finance",
    "compliance_legal",
    "procurement",
    "clinician",
    "operations",
    "marketing_staff",
    "student",
    "job_seeker",
    "vendor",
    UNKNOWN,
)
SENIORITIES: tuple[str, ...] = ("c_level", "vp", "director", "manager", "individual", UNKNOWN)
COMMITTEE_ROLES: tuple[str, ...] = ("clinical_champion", "it_security", "finance", "compliance")

COMMITTEE_BY_PERSONA: dict[str, str] = {
    "digital_health_exec": "clinical_champion",
    "clinical_transformation": "clinical_champion",
    "clinical_executive": "clinical_champion",
    "payer_clinical": "clinical_champion",
    "benefits_leader": "clinical_champion",
    "growth_leader": "clinical_champion",
    "it_security": "it_security",
    "it_leader": "it_security",
    "finance": "finance",
    "compliance_legal": "compliance",
    "procurement": "compliance",
    **dict.fromkeys(("clinician", "operations", "marketing_staff", "student", "job_seeker", "vendor", UNKNOWN),
                    NO_COMMITTEE),
}

PERSONA_LABELS: dict[str, str] = {
    "digital_health_exec": "Chief Digital Health Officer / VP Digital Innovation",
    "clinical_transformation": "VP Clinical Transformation / Population Health leader",
    "clinical_executive": "CMIO / Chief Medical or Nursing Officer",
    "payer_clinical": "Health-plan clinical leader (care or utilization management)",
    "benefits_leader": "Benefits / Total Rewards / HR leader",
    "growth_leader": "Growth or marketing leader (VP / Head of Growth)",
    "it_security": "CISO / information security",
    "it_leader": "CIO / IT, EHR and integration",
    "finance": "CFO / finance and revenue cycle",
    "compliance_legal": "Compliance, privacy or legal",
    "procurement": "Procurement, supply chain or contracts",
    "clinician": "Practising clinician (physician, nurse, therapist)",
    "operations": "Operations, practice management or administration",
    "marketing_staff": "Marketing or communications staff",
    "student": "Student or intern",
    "job_seeker": "Job seeker or retired",
    "vendor": "Sales, consultant or recruiter (likely a vendor)",
    UNKNOWN: "Title not recognised",
}

LEADERSHIP = frozenset({"c_level", "vp", "director"})
STAFF = frozenset({"individual", UNKNOWN})


@dataclass(frozen=True)
class TitleParse:
    """What a job title says: ``persona``, ``seniority`` and ``committee_role``
    (``"none"`` when the persona does not sit on a buying committee)."""

    persona: str
    seniority: str
    committee_role: str


UNKNOWN_PARSE = TitleParse(UNKNOWN, UNKNOWN, NO_COMMITTEE)


@dataclass(frozen=True)
class Rule:
    """One row of :data:`PERSONA_RULES`.

    ``phrases`` and ``unless`` are ``|``-separated phrases in plain words. The rule
    fires when any phrase matches, the title's seniority is in ``seniority`` (any
    seniority when ``None``) and no ``unless`` phrase matches.
    """

    persona: str
    phrases: str
    seniority: frozenset[str] | None = None
    unless: str = ""


# ---------------------------------------------------------------------------
# Normalisation tables
# ---------------------------------------------------------------------------

# Single words as typed (or their singular) -> canonical words.
TOKEN_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("svp", "evp", "avp", "rvp", "gvp", "vps", "svps", "evps", "vicepresident"), "vp"),
    "pres": "president", "prez": "president",
    "dir": "director", "drctr": "director", "dirs": "director",
    "sr": "senior", "snr": "senior", "jr": "junior",
    "mgr": "manager", "mngr": "manager", "mgmt": "management", "mgt": "management",
    "assoc": "associate", "asst": "assistant", "exec": "executive", "execs": "executive",
    "admin": "administrator", "coord": "coordinator", "spec": "specialist",
    "acct": "account", "ae": "account executive", "rep": "representative",
    "eng": "engineer", "engr": "engineer", "dev": "developer",
    "ops": "operations", "svc": "services", "svcs": "services", "dept": "department",
    "mktg": "marketing", "mkting": "marketing", "mkt": "marketing", "comms": "communications",
    "info": "information", "infosec": "information security", "cybersec": "cybersecurity",
    "cyber": "cybersecurity", "appsec": "application security",
    "bizdev": "business development", "bd": "business development", "bdm": "business development manager",
    "hrbp": "hr business partner", "gc": "general counsel", "telemed": "telemedicine",
    "cofounder": "cofounder", "govt": "government",
    "mds": "md", "rns": "rn", "nps": "np", "pas": "pa",
}

# Multi-word spellings -> one canonical spelling (written as typed; normalised on load).
PHRASE_SYNONYMS: dict[str, str] = {
    "vice president": "vp", "v p": "vp", "vice pres": "vp",
    "fp and a": "fpa", "information technology": "it", "human resources": "hr",
    "cyber security": "cybersecurity", "info sec": "information security",
    "co founder": "cofounder", "tele health": "telehealth", "tele medicine": "telemedicine",
    "well being": "wellbeing", "health care": "healthcare", "e health": "ehealth", "m health": "mhealth",
    "pa c": "pa", "ph d": "phd", "pop health": "population health", "biz dev": "business development",
    "pre sales": "presales", "help desk": "helpdesk", "data base": "database", "ob gyn": "obgyn",
    "sys admin": "system administrator", "lead generation": "leadgen", "lead gen": "leadgen",
    "head and neck": "headneck", "open to opportunities": "open to work",
}

# Named phrase lists usable as ``@name`` inside rule phrases.
PHRASE_GROUPS: dict[str, str] = {
    "chief": (
        "chief | ceo | coo | cfo | cio | cto | cmo | cmio | cnio | cno | ciso | cdo | cdho | cco | chro | cpo "
        "| cgo | cso | cxo | clo | cao | chio"
    ),
    "clinician": (
        "physician | doctor | md | do | mbbs | dds | dmd | rn | bsn | msn | dnp | aprn | fnp | np | pa "
        "| physician assistant | nurse | nursing | registered nurse | nurse practitioner | lpn | lvn | cna | crna "
        "| hospitalist | psychiatrist | psychologist | psychotherapist | therapist | pharmacist | pharmd | surgeon "
        "| dentist | hygienist | optometrist | ophthalmologist | podiatrist | chiropractor | midwife | dietitian "
        "| dietician | nutritionist | counselor | counsellor | lcsw | social worker | paramedic | emt | resident "
        "| fellow | attending | clinician | medical assistant | caregiver | internist | intensivist | pediatrician "
        "| obstetrician | gynecologist | obgyn | cardiologist | radiologist | oncologist | neurologist "
        "| dermatologist | anesthesiologist | anesthetist | pathologist | gastroenterologist | endocrinologist "
        "| nephrologist | urologist | pulmonologist | rheumatologist | hematologist | geriatrician | neonatologist "
        "| audiologist | sonographer | phlebotomist | pharmacy technician"
    ),
}

# ---------------------------------------------------------------------------
# Rule tables (first matching row wins; most specific first)
# ---------------------------------------------------------------------------

_INDIVIDUAL_WORDS = (
    "analyst | engineer | specialist | coordinator | associate | assistant | representative | consultant "
    "| architect | developer | programmer | scientist | researcher | strategist | designer | writer | copywriter "
    "| accountant | bookkeeper | auditor | attorney | lawyer | counsel | paralegal | recruiter | buyer | purchaser "
    "| planner | technician | technologist | clerk | receptionist | scheduler | agent | advisor | adviser "
    "| educator | trainer | instructor | professor | lecturer | teacher | student | intern | trainee | apprentice "
    "| postdoc | volunteer | staff | employee | generalist | professional | contractor | freelancer | sdr | bdr "
    "| coder | biller | actuary | underwriter | statistician | epidemiologist | informaticist | coach | navigator "
    "| liaison | candidate | @clinician"
)

SENIORITY_RULES: tuple[tuple[str, str], ...] = (
    # Overrides first: words that look senior but are not, or the other way round.
    ("individual", "executive assistant | administrative assistant | assistant to | personal assistant "
                   "| account executive | sales executive | marketing executive | business development executive "
                   "| executive recruiter | chief resident | product owner | system administrator "
                   "| database administrator | network administrator | benefits administrator "
                   "| contract administrator | case manager | care manager | business partner"),
    ("manager", "head nurse | charge nurse"),
    ("director", "physician executive | physician leader | nurse executive | associate general counsel "
                 "| assistant general counsel | chief of | division chief "
                 "| section chief | department chief | department chair"),
    ("vp", "deputy general counsel | associate @chief | assistant @chief | deputy @chief | vice chair"),
    # Then from the top down: a title naming two levels ("Director & Practice Manager") takes the higher.
    ("c_level", "@chief | president | founder | cofounder | owner | general counsel | managing director "
                "| managing partner | chairman | chairwoman | chairperson | board chair | board member"),
    ("vp", "vp | dean"),
    ("director", "director | head | officer | controller | comptroller | treasurer | chair"),
    ("manager", "manager | supervisor | lead | leader | administrator | superintendent"),
    # After manager so that "Partner Manager" is a manager; alone a partner ranks as a vp.
    ("vp", "partner"),
    ("individual", _INDIVIDUAL_WORDS),
)

PERSONA_RULES: tuple[Rule, ...] = (
    # 1. Not a buyer, whatever else the title says.
    Rule(UNKNOWN, "security guard | public safety | police | loss prevention | social security"),
    Rule("operations", "executive assistant | administrative assistant | assistant to | personal assistant "
                       "| receptionist | secretary"),
    Rule("job_seeker", "job seeker | job seeking | looking for | seeking | open to work | new opportunities "
                       "| unemployed | between roles | between jobs | between positions | career break "
                       "| career transition | in transition | actively looking | job hunting | job search "
                       "| retired | available for hire"),
    Rule("student", "student | intern | internship | graduate research assistant | graduate assistant "
                    "| teaching assistant | phd candidate | doctoral candidate | mph candidate | mba candidate "
                    "| md candidate | postdoc | postdoctoral | research fellow | trainee | apprentice | undergraduate",
         seniority=STAFF),
    Rule("vendor", "recruiter | recruiting | talent acquisition | headhunter | executive search | account executive "
                   "| sales | sdr | bdr | sales development | business development | business developer "
                   "| customer success | client success | account manager | account director | client partner "
                   "| solutions consultant | solutions engineer | sales engineer | presales | territory manager "
                   "| channel manager | medical science liaison | msl"),
    # 2. Spelled-out C-suite titles: unambiguous, so they beat every topic word.
    Rule("growth_leader", "chief marketing officer | chief growth officer | cgo | chief revenue officer "
                          "| chief commercial officer"),
    Rule("it_security", "ciso | chief information security | chief security officer | chief cybersecurity"),
    Rule("compliance_legal", "chief compliance | chief privacy | chief legal | chief risk | general counsel"),
    Rule("procurement", "chief procurement | chief supply chain | chief purchasing"),
    Rule("finance", "cfo | chief financial | chief finance | chief accounting"),
    Rule("benefits_leader", "chro | chief people | chief human resources | chief talent | chief wellbeing "
                            "| chief wellness"),
    Rule("clinical_transformation", "chief clinical transformation | chief transformation | chief population health "
                                    "| chief value | chief quality"),
    Rule("digital_health_exec", "cdho | chief digital | chief innovation | chief virtual | chief telehealth "
                                "| chief telemedicine"),
    Rule("clinical_executive", "cmio | cnio | cno | chief medical | chief nursing | chief nurse | chief clinical "
                               "| chief health information | chio | chief physician | chief health officer"),
    Rule("it_leader", "cio | cto | chief information officer | chief technology | chief technical | chief data "
                      "| chief analytics | chief information technology"),
    Rule("operations", "coo | chief operating | chief operations | chief administrative | chief of staff"),
    # 3. Ambiguous bare acronyms, read in their healthcare sense unless the title says otherwise.
    Rule("clinical_executive", "cmo", unless="marketing | growth | brand"),
    Rule("digital_health_exec", "cdo", unless="data | analytics"),
    Rule("compliance_legal", "cco", unless="commercial | customer | clinical"),
    # 4. A clinician below leadership level stays a clinician, whatever the setting.
    Rule("clinician", "@clinician", seniority=STAFF, unless="liaison | billing | relations | credentialing "
                                                              "| scheduling | scheduler | financial"),
    Rule("vendor", "consultant | consulting | consultancy | freelance | freelancer"),
    # 5. Functional topics, most specific first.
    Rule("payer_clinical", "care management | care manager | case management | case manager "
                           "| utilization management | utilization review | um | clinical programs "
                           "| health services | disease management | medical management | care coordination"),
    Rule("compliance_legal", "privacy"),  # before security: see "HIPAA Privacy & Security Officer"
    Rule("it_security", "security | cybersecurity | soc | penetration tester | pen tester | identity and access | iam"),
    Rule("compliance_legal", "compliance | legal | counsel | attorney | lawyer | paralegal | risk management "
                             "| risk manager | risk officer | enterprise risk | regulatory | audit | auditor "
                             "| ethics | hipaa | accreditation | litigation"),
    Rule("procurement", "procurement | supply chain | sourcing | purchasing | purchaser | buyer | vendor management "
                        "| vendor manager | vendor relations | materials management | materiel | value analysis "
                        "| category manager | logistics"),
    Rule("procurement", "contract | contracting", unless="developer | programmer | engineer | designer | writer"),
    Rule("finance", "finance | financial | fpa | financial planning | controller | comptroller | treasurer "
                    "| treasury | accounting | accountant | accounts payable | accounts receivable | bookkeeper "
                    "| revenue | rcm | billing | biller | payroll | budget | reimbursement | tax | actuary | actuarial "
                    "| underwriter | underwriting | coder | medical coding | investor relations | pricing | cpa "
                    "| collections | benefits verification | eligibility | risk adjustment"),
    Rule("digital_health_exec", "digital | virtual care | virtual health | virtual medicine | virtual nursing "
                                "| telehealth | telemedicine | telepsychiatry | telestroke | teleneurology "
                                "| tele | telecare | remote patient monitoring | rpm | remote monitoring "
                                "| connected care | connected health | ehealth | mhealth | innovation "
                                "| hospital at home",
         unless="marketing | media | design | designer | content | communications | advertising"),
    Rule("clinical_transformation", "transformation | population health | value based | vbc | accountable care "
                                    "| aco | care redesign | clinical excellence | quality improvement "
                                    "| patient safety | clinical quality | clinical effectiveness | care model"),
    Rule("clinical_transformation", "quality", unless="assurance | qa | tester | testing | software | engineer | data"),
    Rule("benefits_leader", "benefits | total rewards | rewards | wellbeing | wellness | hr | people "
                            "| compensation | talent | employee experience | employee health | hris"),
    Rule("growth_leader", "growth | marketing | partnerships | member acquisition | customer acquisition "
                          "| patient acquisition | user acquisition | commercial | go to market | gtm | brand "
                          "| demand generation | consumer", seniority=LEADERSHIP),
    Rule("marketing_staff", "marketing | communications | content | public relations | brand | social media "
                            "| copywriter | seo | events | demand generation | leadgen | campaign | creative "
                            "| graphic design | media | growth | partnerships | member acquisition "
                            "| physician liaison | physician relations | physician outreach | outreach "
                            "| community relations"),
    Rule("clinical_executive", "medical director | medical affairs | medical informatics | nursing informatics "
                               "| clinical informatics | physician executive | physician leader | nurse executive "
                               "| chief of | division chief | section chief | department chief | department chair"),
    Rule("it_leader", "it | information systems | is | interoperability | clinical applications | applications "
                      "| epic | cerner | meditech | allscripts | athenahealth | eclinicalworks | ehr | emr "
                      "| electronic health record | electronic medical record | hl7 | fhir | integration "
                      "| interface | software | developer | programmer | devops | cloud | infrastructure "
                      "| network engineer | network administrator | network architect | network analyst "
                      "| system administrator | systems analyst | systems engineer | database | data | analytics "
                      "| business intelligence | architect | engineer | engineering | technology | technical "
                      "| tech lead | helpdesk | service desk | desktop support | informatics | informaticist | pacs "
                      "| biomedical | telecom | web",
         unless="data entry"),
    Rule("operations", "operations | practice manager | practice administrator | practice director | practice owner "
                       "| office manager | clinic manager | clinic director | administrator | administrative "
                       "| administration | project manager | program manager | project management "
                       "| program management | pmo | project coordinator | business analyst | scheduler | front desk "
                       "| patient access | facilities | health information management | him | medical records "
                       "| credentialing | patient experience | service line | general manager | data entry "
                       "| business office | office | site director | site manager | clerk"),
    # 6. Last resorts: a partner of a firm; clinicians in leadership; any other clinician.
    Rule("vendor", "partner", unless="@clinician"),
    Rule("clinical_executive", "nursing | nurse | patient care | clinical | medical | pharmacy | @clinician",
         seniority=LEADERSHIP),
    Rule("clinician", "@clinician"),
)

MAX_TITLE_CHARS = 256  # longer text is pasted noise; cutting it bounds the work per title

# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

_EMAIL = re.compile(r"[a-z0-9._%+'\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.(?:com|org|net|io|edu|gov|health)\b\S*")
# What follows these usually names an organisation, not a role.
_SEGMENT_BREAK = re.compile(r"[|@;\u2022\u00b7]|\bat\b")
# "at" inside these is part of the role, not the start of an organisation name.
_AT_IN_ROLE = re.compile(r"\b(hospital|member|physician|director)\s+at\s+(home|large)\b")
_DOTTED_ACRONYM = re.compile(r"\b(?:[a-z]\.)+[a-z]\b\.?")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _singular(word: str) -> str:
    """Crude English singular, applied identically to titles and rule phrases."""
    if len(word) < 4 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1]


def _canonical_word(word: str) -> tuple[str, ...]:
    """A word -> its canonical word(s) via :data:`TOKEN_SYNONYMS`, singular."""
    mapped = TOKEN_SYNONYMS.get(word)
    if mapped is None:
        word = _singular(word)
        mapped = TOKEN_SYNONYMS.get(word, word)
    return tuple(_singular(w) for w in mapped.split())


def _words(text: str) -> list[str]:
    """Lower-case ASCII text -> canonical words (before phrase synonyms)."""
    text = _DOTTED_ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text)
    text = text.replace("&", " and ")
    return [w for raw in _NON_WORD.sub(" ", text).split() for w in _canonical_word(raw)]


def _phrase_table(table: Mapping[str, str]) -> dict[tuple[str, ...], tuple[str, ...]]:
    return {tuple(_words(k)): tuple(_words(v)) for k, v in table.items()}


_PHRASE_MAP = _phrase_table(PHRASE_SYNONYMS)
_LONGEST_SYNONYM = max(len(k) for k in _PHRASE_MAP)


def _join_phrases(words: list[str]) -> tuple[str, ...]:
    """Replace multi-word spellings by their canonical form, longest first."""
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST_SYNONYM, len(words) - i), 1, -1):
            canon = _PHRASE_MAP.get(tuple(words[i:i + size]))
            if canon is not None:
                out.extend(canon)
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return tuple(out)


def _tokens(text: str) -> tuple[str, ...]:
    """One segment of lower-case ASCII text -> canonical tokens."""
    return _join_phrases(_words(text))


def _fold(text: str) -> str:
    """Lower-case ASCII-ish text: accents dropped, full-width and ligatures unfolded."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_title(title: object) -> tuple[tuple[str, ...], ...]:
    """A raw title -> its segments of canonical tokens (empty for non-text).

    Two titles with the same normal form always parse the same, so this is also
    the cache key of :func:`parse_titles`.
    """
    if not isinstance(title, str):
        return ()
    text = _fold(title[:MAX_TITLE_CHARS])
    text = _URL.sub(" ", _EMAIL.sub(" ", text))
    text = _AT_IN_ROLE.sub(r"\1_at_\2", text)
    segments = (_tokens(part) for part in _SEGMENT_BREAK.split(text))
    return tuple(s for s in segments if s)


# ---------------------------------------------------------------------------
# Compiled rules
# ---------------------------------------------------------------------------

def _split_phrases(spec: str) -> list[str]:
    return [p.strip() for p in spec.split("|") if p.strip()]


def _expand(phrase: str) -> Iterable[str]:
    """Expand ``@group`` references into every member phrase."""
    choices = [_split_phrases(PHRASE_GROUPS[w[1:]]) if w.startswith("@") else [w] for w in phrase.split()]
    return (" ".join(combo) for combo in itertools.product(*choices))


def _compile(spec: str) -> frozenset[tuple[str, ...]]:
    compiled = {_tokens(p) for phrase in _split_phrases(spec) for p in _expand(phrase)}
    compiled.discard(())
    return frozenset(compiled)


@dataclass(frozen=True)
class _CompiledRule:
    persona: str
    phrases: frozenset[tuple[str, ...]]
    seniority: frozenset[str] | None
    unless: frozenset[tuple[str, ...]]


_SENIORITY = tuple((level, _compile(spec)) for level, spec in SENIORITY_RULES)
_PERSONA = tuple(_CompiledRule(r.persona, _compile(r.phrases), r.seniority, _compile(r.unless)) for r in PERSONA_RULES)


def _index_by_first_word() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Every known phrase keyed by its first word, so a title is scanned once."""
    phrases = {p for _, ps in _SENIORITY for p in ps}
    phrases |= {p for r in _PERSONA for p in r.phrases | r.unless}
    index: dict[str, list[tuple[str, ...]]] = {}
    for p in phrases:
        index.setdefault(p[0], []).append(p)
    return {k: tuple(v) for k, v in index.items()}


_BY_FIRST_WORD = _index_by_first_word()


def _check_tables() -> None:
    """Fail at import on a typo in a table, never at scoring time."""
    unknown_personas = {r.persona for r in PERSONA_RULES} - set(PERSONAS)
    unknown_levels = {level for level, _ in SENIORITY_RULES} - set(SENIORITIES)
    empty = [r.persona for r in _PERSONA if not r.phrases]
    if unknown_personas or unknown_levels or empty or set(COMMITTEE_BY_PERSONA) != set(PERSONAS):
        raise ValueError(f"title rule tables are inconsistent: {unknown_personas=} {unknown_levels=} {empty=}")


_check_tables()

# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def _matched(tokens: tuple[str, ...]) -> set[tuple[str, ...]]:
    """All rule phrases that occur as contiguous whole words in ``tokens``."""
    found: set[tuple[str, ...]] = set()
    for i, word in enumerate(tokens):
        for phrase in _BY_FIRST_WORD.get(word, ()):
            if tokens[i:i + len(phrase)] == phrase:
                found.add(phrase)
    return found


def _seniority(matched: set[tuple[str, ...]]) -> str:
    return next((level for level, phrases in _SENIORITY if not phrases.isdisjoint(matched)), UNKNOWN)


def _persona(matched: set[tuple[str, ...]], seniority: str) -> str:
    for rule in _PERSONA:
        if (rule.phrases.isdisjoint(matched)
                or (rule.seniority is not None and seniority not in rule.seniority)
                or not rule.unless.isdisjoint(matched)):
            continue
        return rule.persona
    return UNKNOWN


def _parse_segment(tokens: tuple[str, ...]) -> TitleParse:
    matched = _matched(tokens)
    if not matched:
        return UNKNOWN_PARSE
    seniority = _seniority(matched)
    persona = _persona(matched, seniority)
    return TitleParse(persona, seniority, COMMITTEE_BY_PERSONA[persona])


def _parse_normalised(segments: tuple[tuple[str, ...], ...]) -> TitleParse:
    """The first segment that says anything decides; later ones are usually an organisation."""
    for tokens in segments:
        parsed = _parse_segment(tokens)
        if parsed != UNKNOWN_PARSE:
            return parsed
    return UNKNOWN_PARSE


def parse_title(title: object) -> TitleParse:
    """Parse one free-text job title into persona, seniority and committee role.

    Never raises: ``None``, NaN, numbers, empty or unrecognised text give
    ``TitleParse("unknown", "unknown", "none")``; a title with only a level
    ("Senior Director") gives an unknown persona with that level.
    """
    return _parse_normalised(normalise_title(title))


def _parse_distinct(values: Iterable[object]) -> list[TitleParse]:
    """Parse values, each distinct normal form only once."""
    by_form: dict[tuple[tuple[str, ...], ...], TitleParse] = {}
    out = []
    for value in values:
        form = normalise_title(value)
        parsed = by_form.get(form)
        if parsed is None:
            parsed = by_form[form] = _parse_normalised(form)
        out.append(parsed)
    return out


def _factorize(titles: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Codes per row (-1 for missing) and the distinct raw values."""
    try:
        codes, uniques = pd.factorize(titles, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), list(uniques)
    except TypeError:  # unhashable cells (lists, dicts): none of them is a title
        hashable = titles.map(lambda v: v if isinstance(v, Hashable) else None)
        codes, uniques = pd.factorize(hashable.astype(object), use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), list(uniques)


_TITLE_FIELDS = (("persona", PERSONAS), ("seniority", SENIORITIES),
                 ("committee_role", (*COMMITTEE_ROLES, NO_COMMITTEE)))


def title_labels(titles: pd.Series) -> dict[str, np.ndarray]:
    """``persona``, ``seniority`` and ``committee_role`` of each title as plain
    object arrays: :func:`parse_titles` without building a frame (the feature
    code's path, where a frame per request costs more than the parsing)."""
    if not isinstance(titles, pd.Series):
        titles = pd.Series(titles, dtype=object)
    codes, uniques = _factorize(titles)
    parsed = _parse_distinct(uniques)
    out: dict[str, np.ndarray] = {}
    for field, categories in _TITLE_FIELDS:
        # One extra slot at the end: code -1 (missing title) picks the "unknown"/"none" label.
        table = np.array([getattr(p, field) for p in parsed] + [categories[-1]], dtype=object)
        out[field] = table[codes]
    return out


def parse_titles(titles: pd.Series) -> pd.DataFrame:
    """Parse a column of job titles.

    Returns a frame with the same index and categorical columns ``persona``
    (categories :data:`PERSONAS`), ``seniority`` (:data:`SENIORITIES`) and
    ``committee_role`` (:data:`COMMITTEE_ROLES` + ``"none"``); row ``i`` equals
    ``parse_title(titles.iloc[i])``. Each distinct value is normalised once and
    each distinct normal form parsed once, so a million rows with a few thousand
    distinct titles take a fraction of a second.
    """
    if not isinstance(titles, pd.Series):
        titles = pd.Series(titles, dtype=object)
    labels = title_labels(titles)
    return pd.DataFrame({field: pd.Categorical(labels[field], categories=list(categories))
                         for field, categories in _TITLE_FIELDS}, index=titles.index)
