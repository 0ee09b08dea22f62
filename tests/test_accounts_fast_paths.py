"""The cheap paths of the account summaries give what the plain ones give.

``POST /score`` pays for its account summaries in every request, so their code takes
short cuts: only the two lead facts the accounts read (``committee_facts``, not every
fit fact), plain Python for a request's handful of rows where pandas serves thousands,
each lead's log-odds alone predicted again only for leads with a colleague among the
leads scored, and the response's models validated in pydantic's core rather than
built one by one. Each short cut is checked here against the plain way, to the bit.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from support import parity_case

from mqlscore.accounts import account_records, members
from mqlscore.features import open_leads_at
from mqlscore.features.fit import lead_facts, minimise_leads
from mqlscore.scoring import ScoringModel
from mqlscore.serving.engine import ScoringEngine
from mqlscore.serving.schemas import AccountLead, AccountReason, AccountSummary, LeadIn, RoleCoverage


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal cell by cell, missing where the other is missing."""
    return len(a) == len(b) and all((x is None and y is None) or x == y for x, y in zip(a.tolist(), b.tolist()))


def _odd_leads() -> pd.DataFrame:
    """Leads whose role and organisation type are spelt every way the contract lets through."""
    return pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(7)],
        "job_title": ["CFO", "  chief information security officer ", None, "", "Nurse", "VP Finance", "CISO"],
        "org_type": ["Health_System", " payer ", None, "", "EMPLOYER", "health_system", np.nan],
    })


@pytest.mark.parametrize("kind", ["export", "minimised", "odd", "odd minimised", "no title", "role not stored",
                                  "some roles not stored", "no org type"])
def test_committee_facts_are_those_of_lead_facts(demo_dataset, kind: str) -> None:
    leads = _odd_leads() if kind.startswith("odd") else demo_dataset.leads.head(3000)
    if "minimised" in kind or "stored" in kind:
        leads = minimise_leads(leads)
    if kind == "no title":
        leads = leads.drop(columns="job_title")
    if kind == "role not stored":
        leads = minimise_leads(demo_dataset.leads.head(50)).drop(columns="_committee_role")
    if kind == "some roles not stored":
        leads = minimise_leads(demo_dataset.leads.head(50))
        leads["_committee_role"] = leads["_committee_role"].where(np.arange(len(leads)) % 3 > 0, None)
    if kind == "no org type":
        leads = leads.drop(columns="org_type")
    role, org = members.committee_facts(leads)
    facts = lead_facts(leads)
    assert _same(role, np.asarray(facts["committee_role"], dtype=object))
    assert _same(org, np.asarray(facts["org_type"], dtype=object))


@pytest.mark.parametrize("seed", range(5))
def test_plain_python_and_pandas_give_the_same_member_layout(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    ids = np.array([f"lead-{i}" for i in rng.permutation(2 * n)], dtype=object)
    wanted = ids[rng.integers(0, 2 * n, n)]
    row = rng.integers(0, max(1, n // 3), n)
    n_rows = int(row.max()) + 1
    values = rng.choice(np.array(["health_system", "payer", "employer", None], dtype=object), n)
    small = (members._codes(wanted, ids), members._positions(ids, wanted), members._first_seen(wanted, row),
             members._most_common(row, values, n_rows))
    monkeypatch.setattr(members, "SMALL", -1)  # every helper takes its pandas path
    large = (members._codes(wanted, ids), members._positions(ids, wanted), members._first_seen(wanted, row),
             members._most_common(row, values, n_rows))
    assert [a.tolist() for a in small[0][0]] == [a.tolist() for a in large[0][0]] and small[0][1] == large[0][1]
    assert small[1].tolist() == large[1].tolist() and small[2].tolist() == large[2].tolist()
    assert _same(small[3], large[3])


def test_a_lead_alone_is_predicted_again_only_when_it_has_colleagues(account_model: ScoringModel, demo_dataset) -> None:
    # leads of the export's largest accounts (colleagues) mixed with leads of other accounts
    rows = open_leads_at(demo_dataset.leads, demo_dataset.outcomes, demo_dataset.as_of)
    X = account_model.builder.transform(demo_dataset.leads, demo_dataset.activities, rows.head(2000))
    data = account_model.model_input(X)
    raw = account_model.raw_log_odds(data)
    expected = account_model.raw_log_odds(account_model.model_input(account_model.alone(X)))  # the whole block, alone
    got = account_model._alone_raw_log_odds(data, X, raw)
    assert np.array_equal(got, expected)
    assert (got != raw).any() and (got == raw).any(), "some leads had colleagues, some did not"
    assert np.array_equal(account_model._alone_raw_log_odds(X, X, account_model.raw_log_odds(X)), expected)  # as a frame


def _constructed(row: dict) -> dict:
    """An account row as ``AccountSummary.model_construct`` builds it (the way before validation)."""
    row = dict(row)
    row.pop("as_of")
    row["leads"] = [AccountLead.model_construct(**m) for m in row.pop("members")]
    row["coverage"] = [RoleCoverage.model_construct(**c) for c in row["coverage"]]
    if row["reasons"] is not None:
        row["reasons"] = [AccountReason.model_construct(**r) for r in row["reasons"]]
    return AccountSummary.model_construct(**row).model_dump(mode="json")


@pytest.mark.parametrize("reasons", [True, False])
def test_validated_responses_hold_the_values_given(account_model: ScoringModel, demo_dataset, reasons: bool) -> None:
    engine = ScoringEngine(account_model)
    _, payloads = parity_case(demo_dataset, 40, seed=3)  # leads with every colleague of their accounts
    leads = [LeadIn.model_validate(x) for x in payloads]
    response = engine.score(leads, as_of=demo_dataset.as_of.isoformat(), reasons=reasons)
    request = engine.prepare(leads, demo_dataset.as_of.isoformat())
    columns = account_model.score(request.leads, request.activities,
                          pd.DataFrame({"lead_id": request.leads["lead_id"],
                                        "as_of": pd.DatetimeIndex([request.as_of] * request.n_leads)}),
                          reasons=reasons, alone=True)
    records = account_records(account_model, request.leads, request.activities, columns, reasons=reasons)
    assert len(records) > 5
    assert [a.model_dump(mode="json") for a in response.accounts] == [_constructed(r) for r in records]
    for s, (_, r) in zip(response.scores, columns.iterrows()):
        assert (s.probability, s.score, s.tier, s.is_mql) == (r["probability"], r["score"], r["tier"], r["is_mql"])
        assert s.reasons is None if not reasons else [x.model_dump() for x in s.reasons] == r["reasons"]
    json.loads(response.model_dump_json())
