"""Account scores for stored leads (issue 16): the lead card's timeline of a stored lead
(``GET /ui/api/stored/{id}/timeline``) carries its account, exactly the summary
``POST /score`` gives for the same buying group at the same moment, and the account's
leads for the card to open; null for a lead without an account and for a model saved
before account scores. ``GET /leads/{id}`` stays one lead's answer."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from support import lead_payloads, recent_slice

from mqlscore.scoring import ScoringModel
from mqlscore.serving.engine import ScoringEngine
from mqlscore.serving.routes import model_routes
from mqlscore.serving.schemas import LeadIn
from mqlscore.serving.store_service import StoreService
from mqlscore.store import LeadStore, ManualClock, load_dataset


@pytest.fixture(scope="module")
def model(account_model: ScoringModel) -> ScoringModel:
    """The session's trained model with its account scores (``conftest.account_model``)."""
    return account_model


@pytest.fixture(scope="module")
def part(demo_export: Path):
    """The export's 300 most recent leads with their accounts' other leads."""
    return recent_slice(demo_export, 300)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory, part) -> str:
    """A SQLite lead store holding the slice (read only by the tests)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('accounts-store') / 'leads.db'}"
    store = LeadStore(url)
    load_dataset(store, part)
    store.close()
    return url


def _service(model: ScoringModel, url: str, part):
    """The store's service for ``model`` (in-process, clock at the export time) and an HTTP client."""
    from starlette.testclient import TestClient

    engine = ScoringEngine(model)
    service = StoreService.open(engine, url, clock=ManualClock(part.as_of))
    return service, engine, TestClient(model_routes(lambda: engine, lambda: service))


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _accounts_of_size(part, low: int) -> list[str]:
    """Accounts of at least ``low`` leads in the slice, largest first (ties by id)."""
    sizes = part.leads.dropna(subset=["account_id"]).groupby("account_id")["lead_id"].count()
    sizes = sizes[sizes >= low]
    return sorted(sizes.index, key=lambda a: (-sizes[a], a))


def test_a_stored_leads_timeline_carries_the_account_post_score_gives(model: ScoringModel, store_url: str,
                                                                      part) -> None:
    service, engine, client = _service(model, store_url, part)
    try:
        account_id = _accounts_of_size(part, 3)[0]
        ids = part.leads.loc[part.leads["account_id"] == account_id, "lead_id"].tolist()
        now = service.clock.now()
        # POST /score (in-process, the service's engine) on the group's own leads and activities
        body = [LeadIn.model_validate(x) for x in lead_payloads(part, ids)]
        posted = json.loads(engine.score(body, as_of=_iso(now)).model_dump_json())
        expected = next(a for a in posted["accounts"] if a["account_id"] == account_id)
        assert sorted(expected["lead_ids"]) == sorted(ids)

        lead_id = ids[0]
        answer = client.get(f"/ui/api/stored/{lead_id}/timeline")
        assert answer.status_code == 200, answer.text
        drawn = answer.json()
        assert drawn["account"] == expected
        assert [m["lead_id"] for m in drawn["account_leads"]] == expected["lead_ids"]
        assert {m["state"] for m in drawn["account_leads"]} <= {"open", "sql", "closed"}
        assert drawn["lead"]["lead_id"] == lead_id and drawn["lead"]["as_of"] == posted["as_of"]
        # the account's members are those the lead's own score counted: its score in the account
        # is the lead's score on the card
        member = next(m for m in drawn["account"]["leads"] if m["lead_id"] == lead_id)
        assert member["score"] == drawn["lead"]["score"]

        # a colleague's card (what the account view opens) shows the same account
        colleague = next(i for i in expected["lead_ids"] if i != lead_id)
        other = client.get(f"/ui/api/stored/{colleague}/timeline").json()
        assert other["lead"]["lead_id"] == colleague and other["account"] == expected
        assert other["account_leads"] == drawn["account_leads"]

        # GET /leads/{id} stays one lead's answer (its speed is measured without account work)
        assert not {"account", "account_leads"} & set(client.get(f"/leads/{lead_id}").json())
    finally:
        service.stop()


def test_a_lead_without_an_account_has_no_account_on_its_timeline(model: ScoringModel, store_url: str,
                                                                   part) -> None:
    alone = part.leads.loc[part.leads["account_id"].isna(), "lead_id"]
    assert len(alone), "the slice has a lead without an account"
    service, _, client = _service(model, store_url, part)
    try:
        drawn = client.get(f"/ui/api/stored/{alone.iloc[0]}/timeline").json()
        assert drawn["lead"]["lead_id"] == alone.iloc[0] and drawn["points"]
        assert "account" in drawn and drawn["account"] is None and drawn["account_leads"] == []
    finally:
        service.stop()


def test_a_model_without_account_scores_has_no_account_on_the_timeline(model: ScoringModel, store_url: str,
                                                                       part) -> None:
    account_id = _accounts_of_size(part, 2)[0]
    lead_id = part.leads.loc[part.leads["account_id"] == account_id, "lead_id"].iloc[0]
    service, _, client = _service(replace(model, accounts=None), store_url, part)
    try:
        answer = client.get(f"/ui/api/stored/{lead_id}/timeline")
        assert answer.status_code == 200, answer.text
        drawn = answer.json()
        assert drawn["lead"]["lead_id"] == lead_id and drawn["points"]
        assert "account" in drawn and drawn["account"] is None and drawn["account_leads"] == []
    finally:
        service.stop()


class _TickingClock(ManualClock):
    """A clock that moves a day forward each time it is read: a timeline that read it twice
    would score its card and its account at two moments."""

    def now(self) -> pd.Timestamp:
        return self.advance("1D")


def test_the_card_its_timeline_and_its_account_are_scored_at_one_moment(model: ScoringModel, store_url: str,
                                                                         part) -> None:
    from starlette.testclient import TestClient

    account_id = _accounts_of_size(part, 3)[0]
    lead_id = part.leads.loc[part.leads["account_id"] == account_id, "lead_id"].iloc[0]
    engine = ScoringEngine(model)
    service = StoreService.open(engine, store_url, clock=_TickingClock(part.as_of - pd.Timedelta(days=30)))
    try:
        drawn = TestClient(model_routes(lambda: engine, lambda: service)).get(
            f"/ui/api/stored/{lead_id}/timeline").json()
        assert pd.Timestamp(drawn["lead"]["as_of"]) == pd.Timestamp(drawn["now"])
        at_now = [p for p in drawn["points"] if pd.Timestamp(p["at"]) == pd.Timestamp(drawn["now"])]
        assert [p["score"] for p in at_now] == [drawn["lead"]["score"]]
        member = next(m for m in drawn["account"]["leads"] if m["lead_id"] == lead_id)
        assert member["score"] == drawn["lead"]["score"]
    finally:
        service.stop()
