"""Word lists of the synthetic digital-health world: personas and their job
titles, organisations, places, web pages, assets and events.

Only the generator reads this module. Feature code must never import it: the
project is judged on exports it has never seen, so the title parser and the
URL rules are written independently of these lists.
"""

from __future__ import annotations

# --- personas -----------------------------------------------------------------
# persona -> (committee role, persona group used for activity mix)
# Groups: champion (clinical / business owner of the purchase), it_security,
# finance, compliance, influencer (clinicians, other staff), junk (students,
# job seekers, vendors: never buyers).
PERSONAS: dict[str, tuple[str, str]] = {
    "digital_health_exec": ("clinical_champion", "champion"),
    "clinical_transformation": ("clinical_champion", "champion"),
    "cmio_cmo": ("clinical_champion", "champion"),
    "payer_clinical": ("clinical_champion", "champion"),
    "benefits_leader": ("clinical_champion", "champion"),
    "growth_leader": ("clinical_champion", "champion"),
    "it_security": ("it_security", "it_security"),
    "it_leader": ("it_security", "it_security"),
    "finance": ("finance", "finance"),
    "compliance_legal": ("compliance", "compliance"),
    "procurement": ("compliance", "compliance"),
    "clinician": ("none", "influencer"),
    "operations": ("none", "influencer"),
    "marketing_staff": ("none", "influencer"),
    "student": ("none", "junk"),
    "job_seeker": ("none", "junk"),
    "vendor": ("none", "junk"),
}

PERSONA_GROUPS = ("champion", "it_security", "finance", "compliance", "influencer", "junk")
COMMITTEE_ROLES = ("clinical_champion", "it_security", "finance", "compliance")

# Persona mix per org type (weights, normalised by the generator).
PERSONA_MIX: dict[str, dict[str, float]] = {
    "health_system": {
        "digital_health_exec": 10, "clinical_transformation": 8, "cmio_cmo": 8, "it_security": 8,
        "it_leader": 7, "finance": 6, "compliance_legal": 5, "procurement": 4, "clinician": 12,
        "operations": 10, "marketing_staff": 4, "student": 4, "job_seeker": 4, "vendor": 3,
    },
    "hospital": {
        "digital_health_exec": 6, "clinical_transformation": 7, "cmio_cmo": 8, "it_security": 7,
        "it_leader": 8, "finance": 7, "compliance_legal": 5, "procurement": 4, "clinician": 16,
        "operations": 12, "marketing_staff": 3, "student": 5, "job_seeker": 5, "vendor": 3,
    },
    "physician_group": {
        "digital_health_exec": 4, "clinical_transformation": 5, "cmio_cmo": 10, "it_security": 3,
        "it_leader": 6, "finance": 6, "compliance_legal": 3, "procurement": 2, "clinician": 25,
        "operations": 15, "marketing_staff": 3, "student": 5, "job_seeker": 5, "vendor": 3,
    },
    "payer": {
        "digital_health_exec": 6, "payer_clinical": 14, "cmio_cmo": 5, "it_security": 7, "it_leader": 5,
        "finance": 7, "compliance_legal": 6, "procurement": 4, "clinician": 5, "operations": 12,
        "marketing_staff": 5, "student": 3, "job_seeker": 4, "vendor": 4,
    },
    "employer": {
        "benefits_leader": 22, "finance": 8, "compliance_legal": 4, "procurement": 5, "it_security": 4,
        "operations": 14, "marketing_staff": 6, "student": 4, "job_seeker": 6, "vendor": 5,
    },
    "digital_health": {
        "growth_leader": 18, "digital_health_exec": 6, "cmio_cmo": 5, "it_security": 6, "it_leader": 6,
        "finance": 5, "compliance_legal": 4, "clinician": 5, "operations": 10, "marketing_staff": 10,
        "student": 4, "job_seeker": 6, "vendor": 8,
    },
    "life_sciences": {
        "digital_health_exec": 8, "cmio_cmo": 5, "it_security": 5, "finance": 5, "compliance_legal": 6,
        "procurement": 4, "operations": 14, "marketing_staff": 10, "student": 5, "job_seeker": 5, "vendor": 8,
    },
    "government": {
        "digital_health_exec": 5, "cmio_cmo": 4, "it_security": 8, "it_leader": 6, "finance": 5,
        "compliance_legal": 6, "procurement": 10, "clinician": 8, "operations": 15, "student": 4,
        "job_seeker": 4, "vendor": 3,
    },
    "other": {
        "digital_health_exec": 3, "it_leader": 4, "finance": 4, "operations": 15, "marketing_staff": 10,
        "student": 10, "job_seeker": 10, "vendor": 12, "clinician": 6,
    },
}

# persona -> list of (title, seniority). Variants are then mangled (case,
# punctuation, abbreviations, word order) by the generator.
TITLES: dict[str, list[tuple[str, str]]] = {
    "digital_health_exec": [
        ("Chief Digital Health Officer", "c_level"), ("CDHO", "c_level"), ("Chief Digital Officer", "c_level"),
        ("Chief Innovation Officer", "c_level"), ("VP Digital Innovation", "vp"),
        ("Vice President, Digital Health", "vp"), ("SVP Digital Transformation", "vp"),
        ("Director of Digital Health", "director"), ("Dir. Virtual Care", "director"),
        ("Director, Telehealth Programs", "director"), ("Senior Manager, Digital Health", "manager"),
        ("Telehealth Program Manager", "manager"), ("Chief Digital & Innovation Officer", "c_level"),
    ],
    "clinical_transformation": [
        ("VP Clinical Transformation", "vp"), ("Vice President of Clinical Transformation", "vp"),
        ("SVP, Clinical Transformation & Innovation", "vp"), ("Director of Clinical Transformation", "director"),
        ("Chief Transformation Officer", "c_level"), ("Director, Care Transformation", "director"),
        ("VP Population Health", "vp"), ("Director of Population Health", "director"),
    ],
    "cmio_cmo": [
        ("CMIO", "c_level"), ("Chief Medical Information Officer", "c_level"), ("CMO", "c_level"),
        ("Chief Medical Officer", "c_level"), ("CNIO", "c_level"), ("Chief Nursing Informatics Officer", "c_level"),
        ("Chief Nursing Officer", "c_level"), ("VP Medical Affairs", "vp"), ("Associate CMIO", "director"),
        ("Medical Director, Virtual Care", "director"), ("CNO", "c_level"),
    ],
    "payer_clinical": [
        ("VP Clinical Programs", "vp"), ("Vice President, Clinical Programs", "vp"),
        ("Director of Care Management", "director"), ("VP Utilization Management", "vp"),
        ("Director, Clinical Programs", "director"), ("SVP Health Services", "vp"),
        ("Medical Director, Care Management", "director"),
    ],
    "benefits_leader": [
        ("VP Benefits", "vp"), ("Vice President, Total Rewards", "vp"), ("Director of Benefits", "director"),
        ("Benefits Manager", "manager"), ("Head of Benefits & Wellbeing", "director"),
        ("Chief People Officer", "c_level"), ("Sr. Director, Global Benefits", "director"),
    ],
    "growth_leader": [
        ("VP Growth", "vp"), ("Head of Growth", "director"), ("VP Marketing", "vp"),
        ("Director, Growth Marketing", "director"), ("Chief Growth Officer", "c_level"),
        ("VP Partnerships", "vp"), ("Head of Member Acquisition", "director"),
    ],
    "it_security": [
        ("CISO", "c_level"), ("Chief Information Security Officer", "c_level"),
        ("Director of Information Security", "director"), ("IT Security Manager", "manager"),
        ("Security Architect", "individual"), ("VP, Information Security", "vp"),
        ("Information Security Analyst", "individual"), ("Dir. Cybersecurity", "director"),
    ],
    "it_leader": [
        ("CIO", "c_level"), ("Chief Information Officer", "c_level"), ("VP Information Technology", "vp"),
        ("IT Director", "director"), ("Director, Clinical Applications", "director"),
        ("Epic Application Manager", "manager"), ("Director of Interoperability", "director"),
        ("CTO", "c_level"), ("Integration Engineer", "individual"),
    ],
    "finance": [
        ("CFO", "c_level"), ("Chief Financial Officer", "c_level"), ("VP Finance", "vp"),
        ("Director of Finance", "director"), ("Controller", "director"), ("Financial Analyst", "individual"),
        ("VP, Revenue Cycle", "vp"), ("Director of FP&A", "director"),
    ],
    "compliance_legal": [
        ("Chief Compliance Officer", "c_level"), ("CCO", "c_level"), ("Privacy Officer", "director"),
        ("General Counsel", "c_level"), ("Director of Compliance", "director"),
        ("HIPAA Privacy & Security Officer", "director"), ("Associate General Counsel", "director"),
        ("Compliance Analyst", "individual"),
    ],
    "procurement": [
        ("Director of Procurement", "director"), ("VP Supply Chain", "vp"), ("Procurement Manager", "manager"),
        ("Strategic Sourcing Manager", "manager"), ("Contract Manager", "manager"),
    ],
    "clinician": [
        ("Physician", "individual"), ("MD", "individual"), ("Registered Nurse", "individual"), ("RN", "individual"),
        ("Nurse Practitioner", "individual"), ("Hospitalist", "individual"), ("Family Medicine Physician", "individual"),
        ("Psychiatrist", "individual"), ("Pharmacist", "individual"), ("Physician Assistant", "individual"),
    ],
    "operations": [
        ("Practice Manager", "manager"), ("Director of Operations", "director"), ("Operations Manager", "manager"),
        ("COO", "c_level"), ("Project Manager", "manager"), ("Office Manager", "manager"),
        ("Administrative Assistant", "individual"), ("Business Analyst", "individual"),
    ],
    "marketing_staff": [
        ("Marketing Coordinator", "individual"), ("Marketing Manager", "manager"),
        ("Communications Specialist", "individual"), ("Content Strategist", "individual"),
    ],
    "student": [
        ("Student", "individual"), ("MPH Student", "individual"), ("Medical Student", "individual"),
        ("Graduate Research Assistant", "individual"), ("Intern", "individual"),
    ],
    "job_seeker": [
        ("Looking for opportunities", "individual"), ("Job Seeker", "individual"), ("Unemployed", "individual"),
        ("Seeking new role", "individual"), ("Open to work", "individual"),
    ],
    "vendor": [
        ("Account Executive", "individual"), ("Sales Director", "director"), ("Business Development Rep", "individual"),
        ("Consultant", "individual"), ("Partner, Healthcare Practice", "director"), ("SDR", "individual"),
    ],
}

# Abbreviation swaps applied at random to make titles messy.
TITLE_SWAPS = (
    ("Vice President", "VP"), ("VP", "Vice President"), ("Senior", "Sr."), ("Director", "Dir."),
    ("Director of", "Director,"), ("Information Technology", "IT"), ("&", "and"), ("and", "&"),
    ("Chief Medical Information Officer", "Chief Medical Informatics Officer"), ("Manager", "Mgr"),
)

# --- organisations and places ------------------------------------------------
ORG_TYPE_MIX = {
    "health_system": 17, "hospital": 14, "physician_group": 15, "payer": 8, "employer": 14,
    "digital_health": 15, "life_sciences": 6, "government": 5, "other": 6,
}

COUNTRY_MIX = {"US": 85.0, "CA": 5.0, "GB": 4.0, "DE": 1.2, "AU": 1.5, "IN": 1.3, "IL": 0.8, "AE": 0.6, "SG": 0.6}

US_STATES = {
    "CA": 39, "TX": 30, "FL": 22, "NY": 20, "PA": 13, "IL": 12.6, "OH": 11.8, "GA": 10.9, "NC": 10.7, "MI": 10,
    "NJ": 9.3, "VA": 8.7, "WA": 7.8, "AZ": 7.4, "TN": 7.1, "MA": 7.0, "IN": 6.8, "MO": 6.2, "MD": 6.2,
    "WI": 5.9, "CO": 5.8, "MN": 5.7, "SC": 5.3, "AL": 5.1, "LA": 4.6, "KY": 4.5, "OR": 4.2, "OK": 4.0,
    "CT": 3.6, "UT": 3.4, "IA": 3.2, "NV": 3.2, "AR": 3.0, "MS": 2.9, "KS": 2.9, "NM": 2.1, "NE": 2.0,
    "ID": 1.9, "WV": 1.8, "HI": 1.4, "NH": 1.4, "ME": 1.4, "MT": 1.1, "RI": 1.1, "DE": 1.0, "SD": 0.9,
    "ND": 0.8, "AK": 0.7, "DC": 0.7, "VT": 0.6, "WY": 0.6,
}
CA_PROVINCES = {"ON": 15, "QC": 8.5, "BC": 5.3, "AB": 4.5, "MB": 1.4, "SK": 1.2, "NS": 1.0}

EHR_MIX_PROVIDER = {"epic": 40, "oracle_health": 20, "meditech": 13, "athenahealth": 10, "other": 11, "none": 6}
EHR_MIX_CLINIC = {"epic": 22, "athenahealth": 30, "oracle_health": 8, "other": 28, "none": 12}

CITY_WORDS = (
    "Riverside", "Lakeview", "Summit", "Valley", "Bayside", "Northern", "Southern", "Mountain", "Prairie",
    "Coastal", "Metro", "Heartland", "Pinecrest", "Granite", "Harbor", "Capital", "Evergreen", "Sunrise",
    "Cedar", "Maple", "Redwood", "Blue Ridge", "Great Lakes", "Gulf Coast", "Hudson", "Desert", "Frontier",
)
SAINTS = ("St. Mary's", "St. Luke's", "St. Joseph", "Mercy", "Providence", "Good Samaritan", "Sacred Heart")
TECH_WORDS = ("Vita", "Care", "Pulse", "Thrive", "Well", "Cura", "Nova", "Beacon", "Bright", "Mind", "Heal")
EMPLOYER_WORDS = ("Logistics", "Manufacturing", "Retail Group", "Foods", "Energy", "Airlines", "Bank", "Motors")
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "Priya",
    "Wei", "Carlos", "Aisha", "Olga", "Kenji", "Fatima", "Liam", "Sofia", "Noah", "Maya", "Ethan", "Grace",
    "Mateo", "Chloe", "Omar", "Hannah", "Lucas", "Zoe", "Daniel", "Emma", "Arjun", "Nia", "Samuel", "Leah",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Nguyen", "Patel", "Kim", "Chen", "Okafor", "Cohen", "Schmidt", "Rossi", "Haddad", "Kowalski", "Singh",
    "Lopez", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
)
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "aol.com", "icloud.com", "proton.me")

# --- web pages, assets, events -------------------------------------------------
PAGE_PATHS: dict[str, tuple[str, ...]] = {
    "pricing": ("/pricing", "/pricing/enterprise", "/plans", "/pricing?plan=health-system", "/Pricing/"),
    "security": (
        "/security", "/trust", "/trust/hipaa", "/hipaa-compliance", "/security/soc2", "/baa",
        "/trust-center/hitrust",
    ),
    "integrations": (
        "/integrations/epic", "/integrations", "/ehr-integration", "/developers/fhir-api",
        "/integrations/oracle-health", "/interoperability/hl7",
    ),
    "evidence": (
        "/clinical-evidence", "/research/rct-hypertension", "/outcomes", "/evidence/peer-reviewed",
        "/research/publications",
    ),
    "case_studies": (
        "/customers", "/case-studies/riverside-health", "/customers/summit-medical-group",
        "/case-studies/payer-rpm-results", "/customer-stories",
    ),
    "roi": ("/roi-calculator", "/roi", "/resources/roi-model"),
    "blog": (
        "/blog/telehealth-trends", "/blog/rpm-reimbursement-2026", "/blog/hybrid-care", "/blog",
        "/blog/cms-ruling-explained", "/news/press-release",
    ),
    "careers": ("/careers", "/careers/open-roles", "/jobs/software-engineer", "/careers/nurse-practitioner"),
    "other": (
        "/", "/platform", "/solutions/remote-patient-monitoring", "/solutions/virtual-care", "/about",
        "/solutions/behavioral-health", "/partners", "/events/webinars", "/contact", "/product/tour",
    ),
}
ASSETS = (
    "Whitepaper: The ROI of Virtual Care", "eBook: HIPAA-Compliant Telehealth Checklist",
    "Clinical Outcomes Study: RPM for Hypertension", "Guide: Epic Integration Playbook",
    "Report: State of Digital Front Door 2026", "Case Study: Summit Medical Group",
    "Benchmark: Payer Care Management Costs", "Toolkit: Employer Mental Health Benefits",
)
WEBINARS = (
    "Scaling RPM with Epic", "Hospital-at-Home Economics", "Behavioral Health for Employers",
    "FHIR APIs in Practice", "Value-Based Care Playbook", "AI Scribes and the Clinical Workflow",
)
# (name, month, first day, length in days)
CONFERENCES = (("ViVE", 2, 16, 3), ("HIMSS", 3, 10, 4), ("AHIP", 6, 16, 3), ("HLTH", 10, 19, 4))
