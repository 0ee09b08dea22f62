"""The lead card end to end: a real ``mqlscore serve`` of the built bento (the
session's shared server, started with ``--scores``), driven in headless Debian
Chromium through Playwright. Checks what a person sees: the sign-in, a scored
file's leads, a lead's card (score, tier, MQL, probability, reasons, waterfall),
long words that wrap, unknown tiers, a file over the bounds, a pasted lead scored
like ``POST /score`` and a bad paste's field-path error; and (the server runs with
``--store``) the stored leads and a stored MQL's score timeline, or the explanation
shown by a service without a store.

Writes the lead card's screenshot to ``reports/screenshots/lead-card.png``.

Skips without ``/usr/bin/chromium`` (``make browser`` installs it) unless
``MQLSCORE_REQUIRE_BROWSER=1``, which ``make test`` sets when Chromium is there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from support import KEY, MODEL_NAME, REPO, chromium_context, page_number, page_signed, require_browser

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SCREENSHOT = REPO / "reports" / "screenshots" / "lead-card.png"
TIMEOUT_MS = 30_000  # how long Playwright waits for an element (not a timing assertion)
EXAMPLE = {
    "lead_id": "L-PASTE", "created_at": "2026-01-05T15:00:00Z", "account_id": "ACC-PASTE", "job_title": "CMIO",
    "email": "grace.hopper@navy-health.example", "first_name": "Grace", "org_type": "health_system", "employee_count": 5000,
    "country": "US", "state": "NY",
    "activities": [{"occurred_at": "2026-01-20T16:30:00Z", "activity_type": "page_view", "detail": "/pricing"},
                   {"occurred_at": "2026-01-21T09:10:00Z", "activity_type": "baa_request", "detail": None}],
}
AS_OF = "2026-02-01T00:00:00Z"


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    """Headless Debian Chromium with a fresh profile (no cookies: signed out)."""
    require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    with chromium_context(tmp_path_factory.mktemp("chromium-profile"), TIMEOUT_MS) as context:
        yield context


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def page(browser_context, server):
    """A tab on the lead card, signed in."""
    tab = browser_context.new_page()
    tab.goto(f"{server['url']}/ui")
    if tab.locator("input[name=key]").count():
        tab.fill("input[name=key]", KEY)
        tab.click("button[type=submit]")
        tab.wait_for_selector("#leads")
    yield tab
    tab.close()


def _percent_close(text: str, probability: float) -> bool:
    assert text.endswith(" %"), text
    return abs(float(text[:-2]) - probability * 100) <= 0.05 + 1e-9


def _card(page) -> dict[str, Any]:
    """What the card shows, as text."""
    card = page.locator("[data-testid=lead-card]")
    return {
        "lead_id": card.locator("#card-lead-id").inner_text(),
        "score": card.locator("#card-score").inner_text(),
        "tier": card.locator("#card-tier").inner_text(),
        "mql": card.locator("#card-mql").inner_text(),
        "probability": card.locator("#card-probability").inner_text(),
        "model": card.locator("#card-model").inner_text(),
        "reasons": [(li.locator(".pts").inner_text(), li.locator(".tag").inner_text(), li.locator(".text").inner_text())
                    for li in card.locator("#card-reasons li").all()],
        "bars": [b.get_attribute("data-kind") for b in card.locator("#waterfall .wf-bar").all()],
        "waterfall_end": card.locator("#waterfall .wf-value[data-kind=total]").text_content(),
        "fit_intent": [b.get_attribute("data-kind") for b in card.locator("#fit-intent rect").all()],
        "text": card.inner_text(),
    }


def _assert_card_shows(shown: dict[str, Any], expected: dict[str, Any]) -> None:
    assert shown["lead_id"] == expected["lead_id"]
    assert shown["score"] == page_number(expected["score"])
    assert shown["tier"] == expected["tier"]
    assert shown["mql"] == ("Yes" if expected["is_mql"] else "No")
    assert _percent_close(shown["probability"], expected["probability"])
    assert shown["model"] == f"Model {expected['model_name']} v{expected['model_version']}"
    reasons = expected["reasons"]
    assert reasons, "the expected lead has reasons"
    assert shown["reasons"] == [(page_signed(r["points"]), r["group"].upper(), r["text"]) for r in reasons] or \
        shown["reasons"] == [(page_signed(r["points"]), r["group"], r["text"]) for r in reasons]
    # Base, one bar per reason, the other signals, the score; the end is the score.
    assert shown["bars"] == ["base", *["reason"] * len(reasons), "other", "total"]
    assert shown["waterfall_end"] == shown["score"]
    assert shown["fit_intent"] == ["fit", "intent"]


def test_sign_in_is_required(browser_context, server) -> None:
    browser_context.clear_cookies()
    tab = browser_context.new_page()
    response = tab.goto(f"{server['url']}/ui")
    assert response.status == 401
    assert tab.locator("input[name=key]").is_visible()
    assert tab.locator("#leads").count() == 0 and tab.locator("#card").count() == 0  # no page without the key
    tab.fill("input[name=key]", "not-the-key-not-the-key-0000")
    tab.click("button[type=submit]")
    assert "not the service's API key" in tab.locator("[role=alert]").inner_text()
    assert tab.locator("#leads").count() == 0 and not browser_context.cookies()
    tab.fill("input[name=key]", KEY)
    tab.click("button[type=submit]")
    tab.wait_for_selector("#leads")
    assert tab.url == f"{server['url']}/ui"
    (cookie,) = browser_context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert KEY not in cookie["value"]
    # The cookie opens the page, never the API.
    assert tab.evaluate("async () => (await fetch('/model')).status") == 401
    tab.click("form.logout button")
    tab.wait_for_selector("input[name=key]")
    assert not browser_context.cookies()
    tab.close()


def test_a_scored_file_and_the_top_leads_card(page, server, scored_files: dict[str, Path]) -> None:
    frame = pd.read_csv(scored_files["csv"], dtype={"lead_id": str, "model_version": str})
    frame = frame.sort_values(["score", "lead_id"], ascending=[False, True], kind="stable")
    # The file the service was started with (--scores) is listed at once ...
    page.wait_for_selector("#leads tbody tr")
    assert page.locator("#source").inner_text().startswith(f"{scored_files['csv'].name}: {len(frame):,} leads")
    assert page.locator("#leads tbody tr").count() == 50
    # ... and a file picked from disk replaces it (here the Parquet copy).
    page.set_input_files("#file-input", str(scored_files["parquet"]))
    expect(page.locator("#source")).to_have_text(f"test-scores.parquet: {len(frame):,} leads (opened from this computer)")
    assert page.locator("#range").inner_text() == f"1\u201350 of {len(frame):,}"
    top = frame.iloc[0]
    first = page.locator("#leads tbody tr").first
    assert first.locator("td").nth(0).inner_text() == top["lead_id"]
    assert first.locator("td").nth(1).inner_text() == page_number(top["score"])
    listed = [float(t.replace("\u2212", "-")) for t in page.locator("#leads tbody tr td.num").all_inner_texts()]
    assert listed == sorted(listed, reverse=True)
    first.click()
    page.wait_for_selector("[data-testid=lead-card]")
    expected = {**top.to_dict(), "reasons": json.loads(top["reasons_json"]), "is_mql": bool(top["is_mql"])}
    shown = _card(page)
    assert "from test-scores.parquet" in shown["text"]
    _assert_card_shows(shown, expected)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    # Search by lead id, then the next page.
    other = frame.iloc[len(frame) // 2]["lead_id"]
    page.fill("#search", other)
    expect(page.locator(f'#leads tbody tr[data-lead-id="{other}"]')).to_have_count(1)
    expect(page.locator("#range")).to_contain_text("matching")
    page.fill("#search", "")
    expect(page.locator("#range")).to_have_text(f"1\u201350 of {len(frame):,}")
    page.click("#next")
    expect(page.locator("#range")).to_have_text(re.compile("^51\u2013"))
    assert page.locator("#leads tbody tr").first.get_attribute("data-lead-id") == frame.iloc[50]["lead_id"]


def test_a_file_opened_before_the_preloaded_one_arrives_stays(page, scored_files: dict[str, Path]) -> None:
    # A busy service (the store's scorer at work) answered the preloaded file's first page
    # after a file opened at once had been shown, and the preloaded file replaced it.
    held = []

    def hold(route) -> None:
        if route.request.method == "GET":
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r"/ui/api/scores\?"), hold)
    page.reload()
    page.wait_for_selector("#file-input")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page asked for no preloaded file"
    page.set_input_files("#file-input", str(scored_files["parquet"]))
    expect(page.locator("#source")).to_contain_text("test-scores.parquet")
    with page.expect_response(lambda r: "/ui/api/scores?" in r.url and r.request.method == "GET"):
        held.pop().continue_()
    page.wait_for_timeout(500)  # the late answer is handled (it had replaced the file at once)
    assert page.locator("#source").inner_text().startswith("test-scores.parquet: ")
    assert page.locator("#leads tbody tr").count() == 50 and page.locator("#file-error").is_hidden()


def test_a_wrong_file_says_which_column_is_missing(page, tmp_path: Path) -> None:
    wrong = tmp_path / "leads.csv"
    wrong.write_text("lead_id,created_at,email\nL1,2026-01-01,someone@example.org\n")
    page.set_input_files("#file-input", str(wrong))
    page.wait_for_selector("#file-error:not([hidden])")
    text = page.locator("#file-error").inner_text()
    assert "not a scored file" in text and "'score'" in text and "someone@example.org" not in text


def test_a_long_reason_wraps_and_an_unknown_tier_shows_a_grey_question_mark(page, tmp_path: Path) -> None:
    # A reason without spaces had stretched the card to 5,000 px; a tier outside A-D showed blank.
    word = "Requested-a-BAA-" * 200
    reasons = json.dumps([{"signal": "act:baa_request", "group": "intent", "text": word, "points": 9.0, "sign": "+"}])
    odd = pd.DataFrame({
        "lead_id": ["L-ODD-TIER", "L-NO-TIER", "L-" + "9" * 240], "probability": [0.9, 0.5, 0.1],
        "score": [99.0, 50.0, 10.0], "tier": ["E", "", "D"], "is_mql": [True, False, False],
        "base_points": [30.0] * 3, "fit_points": [40.0] * 3, "intent_points": [29.0] * 3,
        "reasons_json": [reasons] * 3, "model_name": [MODEL_NAME] * 3, "model_version": ["1"] * 3})
    path = tmp_path / "odd.csv"
    odd.to_csv(path, index=False)
    page.set_input_files("#file-input", str(path))
    expect(page.locator("#source")).to_have_text("odd.csv: 3 leads (opened from this computer)")
    badges = page.locator("#leads tbody tr .tier")
    assert badges.all_inner_texts() == ["?", "?", "D"]
    assert page.locator("#leads tbody tr .tier-unknown").count() == 2
    viewport = page.evaluate("() => window.innerWidth")
    for lead_id in ("L-ODD-TIER", odd["lead_id"].iloc[2]):
        page.locator(f'#leads tbody tr[data-lead-id="{lead_id}"]').click()
        page.wait_for_selector(f'[data-testid=lead-card][data-lead-id="{lead_id}"]')
        card = page.locator("[data-testid=lead-card]").bounding_box()
        reason = page.locator("#card-reasons .text").first.bounding_box()
        assert card["x"] + card["width"] <= viewport and reason["x"] + reason["width"] <= card["x"] + card["width"]
        assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport
    page.locator('#leads tbody tr[data-lead-id="L-ODD-TIER"]').click()
    tier = page.locator("#card-tier")
    expect(tier).to_have_text("?")
    assert "tier-unknown" in tier.get_attribute("class") and "E" in tier.get_attribute("title")
    colours = tier.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    assert colours[0] != colours[1] and colours[1] == "rgb(227, 232, 238)"  # dark on neutral grey, never blank


def test_a_file_over_the_bounds_names_the_bound(page, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 200_001
    table = pa.table({"lead_id": ["L1"] * rows, "probability": [0.5] * rows, "score": [50.0] * rows,
                      "tier": ["B"] * rows, "is_mql": [False] * rows})
    path = tmp_path / "many.parquet"
    pq.write_table(table, path, compression="zstd")
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#file-error:not([hidden])")
    text = page.locator("#file-error").inner_text()
    assert "200,001 rows" in text and "at most 200,000" in text


def test_a_pasted_lead_scores_like_post_score(page, server) -> None:
    page.click("#tab-paste")
    page.fill("#paste", json.dumps(EXAMPLE, indent=2))
    page.fill("#as-of", AS_OF)
    page.click("#score-button")
    page.wait_for_selector("[data-testid=lead-card][data-lead-id=L-PASTE]")
    r = httpx.post(f"{server['url']}/score", json={"leads": [EXAMPLE], "as_of": AS_OF},
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == 200
    (expected,) = r.json()["scores"]
    assert expected["model_name"] == MODEL_NAME
    shown = _card(page)
    _assert_card_shows(shown, expected)
    # Of the pasted fields only the lead id comes back (reasons speak of derived facts, e.g. the persona).
    assert "grace" not in shown["text"].lower() and "hopper" not in shown["text"].lower()


def test_a_bad_paste_shows_the_field_path(page) -> None:
    page.click("#tab-paste")
    page.fill("#paste", json.dumps({**EXAMPLE, "created_at": "yesterday"}))
    page.fill("#as-of", AS_OF)
    page.click("#score-button")
    page.wait_for_selector("#paste-error:not([hidden])")
    text = page.locator("#paste-error").inner_text()
    assert "leads[0].created_at" in text and "timestamp" in text and "yesterday" not in text
    page.fill("#paste", '{"lead_id": "L1", ')
    page.click("#score-button")
    expect(page.locator("#paste-error")).to_contain_text("not valid JSON")
    page.fill("#paste", json.dumps({"leads": [{"created_at": "2026-01-01T00:00:00Z"}]}))
    page.click("#score-button")
    expect(page.locator("#paste-error")).to_contain_text("leads[0].lead_id")


def test_the_bento_ships_the_page(built: dict[str, Any]) -> None:
    (root,) = [p.parent for p in (built["home"] / "bentos" / "mqlscore-service").glob("*/bento.yaml")]
    for name in ("leadcard.html", "leadcard.css", "leadcard.js"):
        assert (root / "src" / "mqlscore" / "static" / name).is_file(), name


# ---------------------------------------------------------------------------
# Stored leads (the server runs with --store and --clock-from export)
# ---------------------------------------------------------------------------


def _day(iso: str) -> str:
    """A day as the page writes it (UTC): ``28 Nov 2026``."""
    ts = pd.Timestamp(iso).tz_convert("UTC")
    return f"{ts.day} {ts:%b} {ts.year}"


def _stored_mqls(server) -> list[dict[str, Any]]:
    """The store's MQLs once the server's scorer has given the stored leads their states
    (it does so in the background after start)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(f"{server['url']}/ui/api/stored", params={"mql": "1", "limit": "50"},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        assert r.status_code == 200, r.text
        if r.json()["leads"]:
            return r.json()["leads"]
        assert time.monotonic() < deadline, "the server's scorer listed no MQL within 60 s"
        time.sleep(1)


def test_a_stored_mqls_card_draws_its_score_timeline(page, server) -> None:
    mqls = _stored_mqls(server)
    assert all(row["is_mql"] for row in mqls)
    fading = [row for row in mqls if row["mql_until"]]
    assert fading, "no stored MQL fades within the look-ahead"
    lead_id = fading[0]["lead_id"]
    auth = {"Authorization": f"Bearer {KEY}"}

    page.click("#tab-stored")
    expect(page.locator("#stored-range")).to_contain_text("stored lead")
    page.check("#stored-mql")
    expect(page.locator("#stored-range")).to_have_text(re.compile(r"^1\u2013\d+ of [\d,]+ MQLs?$"))
    assert set(page.locator("#stored-leads tbody tr").evaluate_all("rs => rs.map(r => r.dataset.mql)")) == {"true"}
    # Caller text in the search box stays text.
    hostile = '<img src=x onerror="window.__pwned=1">'
    page.fill("#stored-search", hostile)
    expect(page.locator("#stored-empty")).to_have_text(f"No stored lead has the lead id or account id \u201c{hostile}\u201d "
                                                      "among the MQLs.")
    assert page.locator("#panel-stored img").count() == 0 and page.evaluate("() => window.__pwned") is None
    page.fill("#stored-search", lead_id)
    row = page.locator(f'#stored-leads tbody tr[data-lead-id="{lead_id}"]')
    expect(row).to_have_count(1)
    row.click()
    page.wait_for_selector(f'[data-testid=lead-card][data-lead-id="{lead_id}"] #timeline')

    expected = httpx.get(f"{server['url']}/leads/{lead_id}", headers=auth, timeout=60).json()
    drawn = httpx.get(f"{server['url']}/ui/api/stored/{lead_id}/timeline", headers=auth, timeout=60).json()
    assert expected["is_mql"] and expected["mql_until"] and expected["state"] == "open"
    card = page.locator("[data-testid=lead-card]")
    assert card.locator("#card-lead-id").inner_text() == lead_id
    assert card.locator("#card-mql").inner_text() == "Yes" and card.locator("#card-tier").inner_text() == expected["tier"]
    assert abs(float(card.locator("#card-score").inner_text()) - expected["score"]) <= 0.1
    assert card.locator("#card-reasons .text").all_inner_texts() == [r["text"] for r in expected["reasons"]]

    svg = card.locator("svg#timeline")
    events = svg.locator("g.tl-event")
    assert drawn["events"]
    toggle = card.locator("#tl-range")
    if toggle.count():  # a history over 90 days: the last 90 first, the whole of it on demand
        shown_from = pd.Timestamp(svg.get_attribute("data-from"))
        assert events.count() == sum(pd.Timestamp(e["at"]) >= shown_from for e in drawn["events"])
        assert toggle.inner_text().startswith("Show the whole history")
        toggle.click()
        expect(toggle).to_have_text("Show the last 90 days")
    assert svg.get_attribute("role") == "img"
    label = svg.get_attribute("aria-label")
    assert lead_id in label and "MQL threshold" in label and _day(expected["mql_until"]) in label
    threshold = svg.locator("line.tl-threshold")
    expect(threshold).to_have_count(1)
    assert threshold.get_attribute("y1") == threshold.get_attribute("y2")
    assert float(threshold.get_attribute("data-score")) == pytest.approx(drawn["threshold_score"])
    assert svg.locator(".tl-threshold-label").text_content().startswith("MQL threshold")
    past, ahead = svg.locator("path.tl-past"), svg.locator("path.tl-ahead")
    expect(past).to_have_count(1)
    expect(ahead).to_have_count(1)
    assert past.get_attribute("stroke-dasharray") is None and ahead.get_attribute("stroke-dasharray")
    assert int(past.get_attribute("data-points")) == sum(not p["ahead"] for p in drawn["points"]) > 1
    assert int(ahead.get_attribute("data-points")) == sum(p["ahead"] for p in drawn["points"]) > 1
    assert events.count() == len(drawn["events"])
    first = drawn["events"][0]
    tip = events.first.locator("title").text_content()
    assert first["kind"].replace("_", " ").lower() in tip.lower() and first["at"][:10] in tip
    expect(svg.locator("line.tl-now")).to_have_count(1)
    expect(svg.locator("g.tl-until")).to_have_count(1)
    assert card.locator("#tl-until").inner_text() == (f"Falls below the MQL threshold on {_day(expected['mql_until'])} "
                                                      "if nothing else happens")
    if expected["mql_since"]:
        assert card.locator("#tl-since").inner_text() == f"MQL since {_day(expected['mql_since'])}"
    # The hand-offs under it: one line each, the direction in words, not only in colour.
    if drawn["handoffs"]:
        items = card.locator("#handoffs li")
        assert items.count() == len(drawn["handoffs"])
        assert all(t.startswith(("\u25b2 Up", "\u25bc Down")) for t in items.locator(".dir").all_inner_texts())
    else:
        expect(card.locator("#handoffs-none")).to_be_visible()
    if toggle.count():
        toggle.click()
        expect(toggle).to_contain_text("whole history")
    (REPO / "reports" / "screenshots").mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(REPO / "reports" / "screenshots" / "lead-card-timeline.png"))


def test_the_stored_leads_view_explains_a_service_without_a_store(page) -> None:
    from mqlscore.serving.errors import FieldProblem, RequestRejected
    from mqlscore.serving.store_routes import NO_STORE

    # The service's own 404 for a service without a store, answered to the page.
    body = RequestRejected(404, "no lead store", [FieldProblem("store", NO_STORE)]).body("test")
    page.route(re.compile(r"/ui/api/stored\?"), lambda route: route.fulfill(status=404, json=body))
    page.click("#tab-stored")
    note = page.locator("#stored-none")
    expect(note).to_be_visible()
    assert "keeps no lead store" in note.inner_text() and "mqlscore serve --store URL" in note.inner_text()
    assert page.locator("#stored-view").is_hidden() and page.locator("#stored-error").is_hidden()
