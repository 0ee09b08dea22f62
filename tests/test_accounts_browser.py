"""The lead card's account view (issue 16) end to end: the session's real ``mqlscore
serve`` in headless Debian Chromium. A pasted request of two accounts shows, under
each lead's card, its account: score, tier, MQA, probability, every committee role's
state, the missing role worth finding, the account's leads by score (each opening its
own card) and the reasons, all as ``POST /score``'s account summary gives them for
the same body; nothing pasted that is personal comes back. A lead opened from the lead
store shows its account the same way (the timeline's ``account``), and its account's
leads open their own stored cards.

Writes the account view's screenshot to ``reports/screenshots/account-view.png``. Skips
without ``/usr/bin/chromium`` unless ``MQLSCORE_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import json

import httpx
import pytest
from support import KEY, REPO, chromium_context, page_number, page_signed, require_browser

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SCREENSHOT = REPO / "reports" / "screenshots" / "account-view.png"
AS_OF = "2026-02-01T00:00:00Z"
ORG = {"org_type": "health_system", "employee_count": 9000, "bed_count": 500, "country": "US", "state": "OH"}
BODY = {"as_of": AS_OF, "leads": [
    {"lead_id": "A-CMIO", "account_id": "ACC-MERCY", "created_at": "2025-12-01T00:00:00Z", "job_title": "CMIO",
     "email": "grace.hopper@mercy-health.example", "first_name": "Grace", **ORG,
     "activities": [{"occurred_at": "2026-01-20T10:00:00Z", "activity_type": "webinar_attended", "detail": "W"},
                    {"occurred_at": "2026-01-28T10:00:00Z", "activity_type": "page_view", "detail": "/pricing"}]},
    {"lead_id": "A-CISO", "account_id": "ACC-MERCY", "created_at": "2025-12-01T00:00:00Z", "job_title": "CISO",
     **ORG, "activities": [{"occurred_at": "2026-01-25T10:00:00Z", "activity_type": "security_review"}]},
    {"lead_id": "A-CFO", "account_id": "ACC-MERCY", "created_at": "2025-06-01T00:00:00Z", "job_title": "CFO",
     **ORG, "activities": [{"occurred_at": "2025-07-01T10:00:00Z", "activity_type": "page_view", "detail": "/roi"}]},
    {"lead_id": "B-STUDENT", "account_id": "ACC-OTHER", "created_at": "2025-12-01T00:00:00Z",
     "job_title": "Nursing Student", **ORG,
     "activities": [{"occurred_at": "2026-01-30T10:00:00Z", "activity_type": "page_view", "detail": "/careers"}]},
]}
STATE_LABELS = {"engaged": "engaged", "recent": "recently active", "silent": "known, silent", "missing": "missing"}


@pytest.fixture(scope="module")
def page(server, tmp_path_factory: pytest.TempPathFactory):
    """A signed-in tab on the lead card of the session's server."""
    require_browser()
    with chromium_context(tmp_path_factory.mktemp("chromium-accounts"), 30_000) as context:
        tab = context.new_page()
        tab.goto(f"{server['url']}/ui")
        tab.fill("input[name=key]", KEY)
        tab.click("button[type=submit]")
        tab.wait_for_selector("#leads")
        yield tab


def _view(page) -> dict:
    view = page.locator("[data-testid=account-view]")
    return {
        "account_id": view.locator("#account-id").inner_text(),
        "score": view.locator("#account-score").inner_text(),
        "tier": view.locator("#account-tier").inner_text(),
        "mqa": view.locator("#account-mqa").inner_text(),
        "probability": view.locator("#account-probability").inner_text(),
        "coverage": [(li.get_attribute("data-role"), li.get_attribute("data-state"),
                      li.locator(".state").inner_text().lower(), li.locator(".text").inner_text())
                     for li in view.locator("#account-coverage li").all()],
        "best_missing": (view.locator("#account-best-missing").inner_text()
                         if view.locator("#account-best-missing").count() else None),
        "leads": [(tr.get_attribute("data-lead-id"), tr.locator("td").nth(1).inner_text())
                  for tr in view.locator("#account-leads tbody tr").all()],
        "reasons": [(li.locator(".pts").inner_text(), li.locator(".text").inner_text())
                    for li in view.locator("#account-reasons li").all()],
        "text": view.inner_text(),
    }


def _assert_view_shows(shown: dict, summary: dict) -> None:
    assert shown["account_id"] == summary["account_id"]
    assert shown["score"] == page_number(summary["score"])
    assert shown["tier"] == summary["tier"]
    assert shown["mqa"] == ("Yes" if summary["is_mqa"] else "No")
    assert abs(float(shown["probability"].removesuffix(" %")) - 100 * summary["probability"]) <= 0.05 + 1e-9
    assert shown["coverage"] == [(c["role"], c["state"], STATE_LABELS[c["state"]], c["text"])
                                 for c in summary["coverage"]]
    assert shown["best_missing"] == summary["best_missing_text"]
    assert shown["leads"] == [(m["lead_id"], page_number(m["score"])) for m in summary["leads"]]
    assert [lead for lead, _ in shown["leads"]] == summary["lead_ids"]
    assert shown["reasons"] == [(page_signed(r["points"]), r["text"]) for r in summary["reasons"]]


def test_the_account_view_shows_post_scores_account_summary(page, server) -> None:
    answer = httpx.post(f"{server['url']}/score", json=BODY, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert answer.status_code == 200
    accounts = {a["account_id"]: a for a in answer.json()["accounts"]}
    assert set(accounts) == {"ACC-MERCY", "ACC-OTHER"}
    page.click("#tab-paste")
    page.fill("#paste", json.dumps(BODY, indent=2))
    page.fill("#as-of", AS_OF)
    page.click("#score-button")
    page.wait_for_selector("[data-testid=lead-card][data-lead-id=A-CMIO] [data-testid=account-view]")
    shown = _view(page)
    _assert_view_shows(shown, accounts["ACC-MERCY"])
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("[data-testid=account-view]").screenshot(path=str(SCREENSHOT))
    assert [state for _, state, _, _ in shown["coverage"]][:3] == ["engaged", "engaged", "silent"]
    for word in ("grace", "hopper", "mercy-health"):
        assert word not in page.locator("[data-testid=lead-card]").inner_text().lower()
    # a lead of the account table opens that lead's card, with the same account view
    page.locator("#account-leads tbody tr[data-lead-id=A-CISO] button").click()
    page.wait_for_selector("[data-testid=lead-card][data-lead-id=A-CISO] [data-testid=account-view]")
    _assert_view_shows(_view(page), accounts["ACC-MERCY"])
    # the other account's lead shows its own account
    page.locator("#paste-list button", has_text="B-STUDENT").click()
    page.wait_for_selector("[data-testid=lead-card][data-lead-id=B-STUDENT] [data-testid=account-view]")
    _assert_view_shows(_view(page), accounts["ACC-OTHER"])


def _stored_account_lead(server) -> tuple[str, str]:
    """A stored lead whose account has another stored lead, and that account, once the
    server's scorer has scored the stored leads (in the background after start)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(f"{server['url']}/ui/api/stored", params={"limit": "500"},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        assert r.status_code == 200, r.text
        rows = [row for row in r.json()["leads"] if row["account_id"] and row["score"] is not None]
        seen: dict[str, list[str]] = {}
        for row in rows:
            seen.setdefault(row["account_id"], []).append(row["lead_id"])
        groups = [(ids[0], account) for account, ids in seen.items() if len(ids) >= 2]
        if groups:
            return groups[0]
        assert time.monotonic() < deadline, "no stored account of two scored leads within 60 s"
        time.sleep(1)


def test_a_stored_leads_card_shows_its_account_and_opens_its_colleagues(page, server) -> None:
    lead_id, account_id = _stored_account_lead(server)
    page.click("#tab-stored")
    page.fill("#stored-search", lead_id)
    row = page.locator(f'#stored-leads tbody tr[data-lead-id="{lead_id}"]')
    row.wait_for()
    with page.expect_response(lambda r: r.url.endswith("/timeline") and "/ui/api/stored/" in r.url) as got:
        row.click()
    drawn = got.value.json()
    assert drawn["lead"]["lead_id"] == lead_id and drawn["account"]["account_id"] == account_id
    page.wait_for_selector(f'[data-testid=lead-card][data-lead-id="{lead_id}"] [data-testid=account-view]')
    card = page.locator("[data-testid=lead-card]")
    assert card.locator("#timeline").count() == 1  # the stored card, with the account under it
    _assert_view_shows(_view(page), drawn["account"])
    assert [m["lead_id"] for m in drawn["account_leads"]] == drawn["account"]["lead_ids"]

    # a colleague in the account's table opens the colleague's stored card, with the same account
    colleague = next(i for i in drawn["account"]["lead_ids"] if i != lead_id)
    button = page.locator(f'#account-leads tbody tr[data-lead-id="{colleague}"] button')
    assert button.is_enabled()
    with page.expect_response(lambda r: r.url.endswith("/timeline") and "/ui/api/stored/" in r.url) as got:
        button.click()
    other = got.value.json()
    assert other["lead"]["lead_id"] == colleague
    page.wait_for_selector(f'[data-testid=lead-card][data-lead-id="{colleague}"] #timeline')
    page.wait_for_selector(f'[data-testid=lead-card][data-lead-id="{colleague}"] [data-testid=account-view]')
    assert page.locator("#card-lead-id").inner_text() == colleague
    assert "from the lead store" in card.locator(".card-head").inner_text()
    _assert_view_shows(_view(page), other["account"])
    assert other["account"]["account_id"] == account_id
