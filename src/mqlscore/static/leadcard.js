// The lead card page: plain JavaScript, no framework, no build step.
// Everything shown comes from the service's JSON and is written with textContent
// (never innerHTML), so nothing in a file or a paste can run as code here.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";
  // Sent on every POST: the service accepts the session cookie for a POST only with
  // it, which a form on another site cannot add.
  const HEADERS = { "X-Requested-With": "mqlscore-ui" };
  const PAGE = 50;
  const MINUS = "\u2212";
  // The tiers the style sheet colours; anything else in a file shows as "?" in grey.
  const KNOWN_TIERS = ["A", "B", "C", "D"];

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function num(n, digits) {
    const text = Math.abs(n).toFixed(digits === undefined ? 1 : digits);
    return (n < 0 && Number(text) !== 0 ? MINUS : "") + text;
  }

  function signed(n, digits) {
    const text = Math.abs(n).toFixed(digits === undefined ? 1 : digits);
    if (Number(text) === 0) return text;
    return (n < 0 ? MINUS : "+") + text;
  }

  function percent(p) {
    return (p * 100).toFixed(1) + " %";
  }

  function count(n) {
    return Number(n).toLocaleString("en-US");
  }

  // An ISO time as epoch milliseconds (NaN when unreadable). The service writes
  // microseconds; Date.parse is only specified for milliseconds, so extra digits go.
  function ms(text) {
    if (typeof text !== "string") return NaN;
    return Date.parse(text.replace(/(\.\d{3})\d+/, "$1"));
  }

  function when(text) {
    if (!text) return "";
    const t = ms(text);
    if (Number.isNaN(t)) return String(text);
    return new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // A day as a person says it, in UTC like every time on the page: "28 Nov 2026".
  function day(text) {
    const t = typeof text === "number" ? text : ms(text);
    if (Number.isNaN(t)) return String(text || "");
    const d = new Date(t);
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear();
  }

  function short(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "\u2026" : text;
  }

  function isNumber(x) {
    return typeof x === "number" && Number.isFinite(x);
  }

  function tierBadge(tier, id) {
    const known = typeof tier === "string" && KNOWN_TIERS.includes(tier);
    return el("span", { id, class: "tier " + (known ? "tier-" + tier : "tier-unknown"), text: known ? tier : "?",
      "data-tier": known ? tier : "unknown",
      title: known ? null : "Unknown tier" + (tier ? " (" + short(String(tier), 40) + ")" : "") });
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || "the service answered " + status);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, url, body, headers) {
    let res;
    try {
      res = await fetch(url, {
        method, body, credentials: "same-origin", headers: Object.assign({}, HEADERS, headers || {}),
      });
    } catch (e) {
      throw new ApiError(0, { error: "The service cannot be reached (" + e.message + ")." });
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // A refusal, readable: the message, then each problem's field path and what is wrong.
  function showProblem(box, err, context) {
    box.replaceChildren();
    box.hidden = false;
    if (err.status === 401) {
      box.append(el("strong", { text: "You are signed out (or the service's key changed)." }),
        el("a", { href: "/ui", text: "Sign in again" }));
      return;
    }
    let title = err.message;
    let problems = (err.body && err.body.problems) || [];
    // The body itself over the service's size limit (the guard's 413, on "body"); a
    // file over the lead card's row or size bounds names the bound in its problem.
    if (err.status === 413 && problems.every((p) => p.field === "body")) {
      title = context === "file"
        ? "The file is larger than the service accepts in one upload. Save it as Parquet (much smaller), "
          + "or start the service with it: mqlscore serve --scores FILE."
        : "The request is larger than the service accepts.";
      problems = [];
    }
    box.append(el("strong", { text: title }));
    if (problems.length) {
      const list = el("ul", { class: "problems" });
      for (const p of problems) {
        list.append(el("li", {}, el("code", { text: p.field }), " \u2014 " + p.message));
      }
      box.append(list);
    }
  }

  // ---------------------------------------------------------------- the model
  async function loadModel() {
    try {
      const m = await api("GET", "/ui/api/model");
      const parts = ["Service model " + m.name + " v" + m.version];
      if (m.threshold && isNumber(m.threshold.probability)) {
        parts.push("MQL from a probability of " + percent(m.threshold.probability));
      }
      if (m.tiers) {
        parts.push("tiers " + Object.entries(m.tiers).map(([t, s]) => t + " \u2265 " + s).join(", ") + ", D below");
      }
      $("model-info").textContent = parts.join(" \u00b7 ");
    } catch (e) {
      if (e.status === 401) window.location.assign("/ui");
    }
  }

  // ---------------------------------------------------------------- the list
  // A source is either the file the service was started with, or a file opened
  // here. Both are paged, searched and sorted by the service; the service keeps no
  // upload (its workers share nothing), so an opened file is sent again with each
  // page asked for (the browser reads it from disk; the page never holds its rows).
  let source = null;
  const state = { q: "", order: "desc", offset: 0, selected: null, seq: 0, picked: false };

  function fetchPage(src, offset) {
    const query = new URLSearchParams({ q: state.q, order: state.order, offset, limit: PAGE });
    if (src.server) return api("GET", "/ui/api/scores?" + query.toString());
    query.set("name", src.name);
    return api("POST", "/ui/api/scores?" + query.toString(), src.file, { "Content-Type": "application/octet-stream" });
  }

  async function refreshList() {
    if (!source) return;
    const seq = ++state.seq;  // a slow answer for an older search must not overwrite a newer one
    let page;
    try {
      page = await fetchPage(source, state.offset);
    } catch (e) {
      if (seq === state.seq) showProblem($("file-error"), e, "file");
      return;
    }
    if (seq !== state.seq) return;
    state.offset = page.offset;  // past the end, the service answers the last page
    renderList(page);
  }

  function renderList(page) {
    const body = $("leads").tBodies[0];
    body.replaceChildren();
    for (const row of page.rows) {
      const tr = el("tr", { tabindex: 0, "data-lead-id": row.lead_id,
        "aria-selected": state.selected === row.lead_id ? "true" : "false" },
      el("td", { class: "id", title: row.lead_id, text: row.lead_id }),
      el("td", { class: "num", text: isNumber(row.score) ? num(row.score) : "" }),
      el("td", {}, tierBadge(row.tier)),
      el("td", { text: row.is_mql === true ? "Yes" : row.is_mql === false ? "No" : "" }));
      const open = () => {
        state.selected = row.lead_id;
        for (const other of body.rows) other.setAttribute("aria-selected", other === tr ? "true" : "false");
        renderCard(row, row.as_of, "from " + source.name);
      };
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); }
      });
      body.append(tr);
    }
    const first = page.matched ? page.offset + 1 : 0;
    const last = page.offset + page.rows.length;
    let text = count(first) + "\u2013" + count(last) + " of " + count(page.matched);
    if (page.matched !== page.total) text += " matching (" + count(page.total) + " in the file)";
    $("range").textContent = text;
    $("prev").disabled = page.offset <= 0;
    $("next").disabled = last >= page.matched;
  }

  function useSource(next, label) {
    source = next;
    state.offset = 0;
    state.selected = null;
    $("file-error").hidden = true;
    $("source").textContent = label;
    refreshList();
  }

  async function loadPreloaded() {
    try {
      const page = await api("GET", "/ui/api/scores?limit=" + PAGE);
      // A file opened while the service was answering stays: the preloaded file is only
      // what the page shows first (a busy service had replaced the file just opened).
      if (state.picked) return;
      if (page.source) {
        useSource({ server: true, name: page.source },
          page.source + ": " + count(page.total) + " leads (loaded by the service)");
      }
    } catch (e) {
      if (e.status === 401) { window.location.assign("/ui"); return; }
      if (!state.picked) showProblem($("file-error"), e, "file");
    }
  }

  async function openFile(file) {
    state.picked = true;
    $("file-error").hidden = true;
    $("source").textContent = "Reading " + file.name + " \u2026";
    const seq = ++state.seq;
    const next = { server: false, name: file.name, file };
    try {
      const page = await fetchPage(next, 0);
      if (seq !== state.seq) return;
      source = next;
      state.offset = page.offset;
      state.selected = null;
      $("source").textContent = page.source + ": " + count(page.total) + " leads (opened from this computer)";
      renderList(page);
    } catch (e) {
      $("source").textContent = source ? "Still showing " + source.name + "." : "No scored file loaded yet.";
      showProblem($("file-error"), e, "file");
    }
  }

  // ---------------------------------------------------------------- stored leads
  // The service's lead store (`mqlscore serve --store`): a page of stored leads at a
  // time (MQLs first, by score), and for the lead picked its card, its score through
  // time and its hand-offs. Lead and account ids are whatever callers sent: they are
  // written with textContent and attributes only, like everything else here.
  const stored = { q: "", mql: false, offset: 0, selected: null, seq: 0, cardSeq: 0 };

  function noStore(err) {
    const problems = (err.body && err.body.problems) || [];
    return err.status === 404 && problems.some((p) => p.field === "store");
  }

  async function refreshStored() {
    const seq = ++stored.seq;  // a slow answer for an older search must not overwrite a newer one
    const query = new URLSearchParams({ q: stored.q, offset: stored.offset, limit: PAGE });
    if (stored.mql) query.set("mql", "1");
    let page;
    try {
      page = await api("GET", "/ui/api/stored?" + query.toString());
    } catch (e) {
      if (seq !== stored.seq) return;
      if (noStore(e)) { showNoStore(); return; }
      showProblem($("stored-error"), e, "stored");
      return;
    }
    if (seq !== stored.seq) return;
    if (!page.leads.length && page.total > 0 && stored.offset > 0) {
      // The list shrank under the page (leads erased, MQLs faded): show its last page.
      stored.offset = Math.floor((page.total - 1) / PAGE) * PAGE;
      refreshStored();
      return;
    }
    $("stored-error").hidden = true;
    renderStored(page);
  }

  function showNoStore() {
    $("stored-view").hidden = true;
    $("tab-stored").setAttribute("data-store", "none");
    const box = $("stored-none");
    box.replaceChildren(
      el("strong", { text: "This service keeps no lead store." }),
      el("span", { text: " Stored leads, their score over time and their hand-offs show here when the service is "
        + "started with one: " }),
      el("code", { text: "mqlscore serve --store URL" }),
      el("span", { text: ". Scored files and pasted leads work as usual." }));
    box.hidden = false;
  }

  function renderStored(page) {
    $("stored-none").hidden = true;
    $("stored-view").hidden = false;
    const body = $("stored-leads").tBodies[0];
    body.replaceChildren();
    for (const row of page.leads) {
      const tr = el("tr", { tabindex: 0, "data-lead-id": row.lead_id, "data-mql": row.is_mql ? "true" : "false",
        "aria-selected": stored.selected === row.lead_id ? "true" : "false" },
      el("td", { class: "id", title: row.lead_id, text: row.lead_id }),
      el("td", { class: "id", title: row.account_id || null, text: row.account_id || "\u2014" }),
      el("td", { class: "num", text: isNumber(row.score) ? num(row.score) : "" }),
      el("td", { class: row.is_mql ? "mql-yes" : "mql-no", text: row.is_mql ? "Yes" : "No" }));
      const open = () => {
        for (const other of body.rows) other.setAttribute("aria-selected", other === tr ? "true" : "false");
        openStored(row.lead_id);
      };
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); }
      });
      body.append(tr);
    }
    const empty = $("stored-empty");
    empty.hidden = page.total > 0;
    if (stored.q) {
      empty.textContent = "No stored lead has the lead id or account id \u201c" + stored.q + "\u201d"
        + (stored.mql ? " among the MQLs." : ".");
    } else {
      empty.textContent = stored.mql ? "No stored lead is an MQL right now."
        : "The store holds no scored lead yet (the service scores stored leads in the background).";
    }
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.leads.length;
    $("stored-range").textContent = count(first) + "\u2013" + count(last) + " of " + count(page.total)
      + (stored.mql ? " MQL" : " stored lead") + (page.total === 1 ? "" : "s");
    $("stored-prev").disabled = page.offset <= 0;
    $("stored-next").disabled = last >= page.total;
  }

  async function openStored(leadId) {
    const seq = ++stored.cardSeq;
    stored.selected = leadId;
    const card = $("card");
    card.setAttribute("aria-busy", "true");
    try {
      const data = await api("GET", "/ui/api/stored/" + encodeURIComponent(leadId) + "/timeline");
      if (seq !== stored.cardSeq) return;
      // Opened from the account view, a colleague becomes the list's selected row (if shown).
      for (const tr of $("stored-leads").tBodies[0].rows) {
        tr.setAttribute("aria-selected", tr.dataset.leadId === leadId ? "true" : "false");
      }
      renderCard(data.lead, data.lead.as_of, "from the lead store", storedSections(data), data);
    } catch (e) {
      if (seq !== stored.cardSeq) return;
      const box = el("div", { class: "problem", role: "alert" });
      showProblem(box, e, "stored");
      card.replaceChildren(box);
    } finally {
      if (seq === stored.cardSeq) card.removeAttribute("aria-busy");
    }
  }

  const STATES = { sql: "Already an SQL: sales has it.", closed: "Closed: disqualified." };
  const CAUSES = {
    event: "after new activity or a change to the lead or its account",
    decay: "its score faded with time",
    model: "a new model or threshold",
  };

  function kindLabel(kind) {
    const text = String(kind).replace(/_/g, " ").trim();
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : "Activity";
  }

  // The timeline, what it means in words, and the hand-offs: shown under the card's headline.
  function storedSections(data) {
    const lead = data.lead || {};
    const out = [el("h3", { text: "Score over time" }), ...timelineBlock(data)];
    out.push(el("p", { class: "legend", text: "Solid line: the score so far. Dashed line: how it fades from now if "
      + "nothing else happens. Ticks along the bottom: the lead\u2019s activities (point at one for its kind and "
      + "time). Shaded: above the MQL threshold." }));
    const captions = el("div", { class: "tl-captions" });
    if (lead.mql_since) {
      captions.append(el("p", { id: "tl-since", class: "tl-caption", title: when(lead.mql_since),
        text: "MQL since " + day(lead.mql_since) }));
    }
    if (lead.mql_until) {
      captions.append(el("p", { id: "tl-until", class: "tl-caption warn", title: when(lead.mql_until),
        text: "Falls below the MQL threshold on " + day(lead.mql_until) + " if nothing else happens" }));
    } else if (lead.is_mql && lead.state === "open") {
      captions.append(el("p", { id: "tl-until", class: "tl-caption",
        text: "Stays above the MQL threshold for as far ahead as the service looks, if nothing else happens" }));
    } else if (!lead.is_mql && lead.state === "open") {
      captions.append(el("p", { class: "tl-caption muted", text: "Not an MQL now"
        + (isNumber(data.threshold_score) ? ": below the MQL threshold (" + num(data.threshold_score) + ")" : "") }));
    }
    if (STATES[lead.state]) captions.append(el("p", { class: "tl-caption", id: "tl-state", text: STATES[lead.state] }));
    out.push(captions);

    out.push(el("h3", { text: "Hand-offs" }));
    // In the order they happened (the cursor is the order they were recorded in).
    const handoffs = (Array.isArray(data.handoffs) ? data.handoffs : []).slice()
      .sort((a, b) => (ms(a.at) - ms(b.at)) || (a.cursor - b.cursor));
    if (handoffs.length) {
      const list = el("ol", { class: "handoffs", id: "handoffs" });
      for (const h of handoffs) {
        const up = h.direction === "up";
        list.append(el("li", { "data-direction": up ? "up" : "down" },
          el("span", { class: "dir " + (up ? "dir-up" : "dir-down"),
            text: up ? "\u25b2 Up: became an MQL" : "\u25bc Down: no longer an MQL" }),
          el("span", { class: "cause", text: CAUSES[h.cause] || String(h.cause || "") }),
          el("span", { class: "muted", text: when(h.at) + (isNumber(h.score) ? " \u00b7 score " + num(h.score) : "") })));
      }
      out.push(list);
    } else {
      out.push(el("p", { class: "muted", id: "handoffs-none", text: "No hand-off recorded for this lead yet." }));
    }
    return out;
  }

  const RECENT_DAYS = 90;
  const DAY_MS = 86400000;

  // The chart of the last RECENT_DAYS days (a long history would squeeze the days
  // that matter, now and ahead, into a sliver), with a button for the whole history.
  function timelineBlock(data) {
    const times = (Array.isArray(data.points) ? data.points : []).map((p) => ms(p.at)).filter((t) => !Number.isNaN(t));
    const now = ms(data.now);
    const first = times.length ? Math.min(...times) : now;
    const recent = now - RECENT_DAYS * DAY_MS;
    const wrap = el("div", { class: "tl-chart" });
    if (Number.isNaN(now) || !(first < recent)) {
      wrap.append(scoreTimeline(data, null));
      return [wrap];
    }
    let whole = false;
    const toggle = el("button", { type: "button", class: "quiet", id: "tl-range", "aria-controls": "timeline" });
    const draw = () => {
      wrap.replaceChildren(scoreTimeline(data, whole ? null : recent));
      toggle.textContent = whole ? "Show the last " + RECENT_DAYS + " days"
        : "Show the whole history (since " + day(first) + ")";
    };
    toggle.addEventListener("click", () => { whole = !whole; draw(); });
    draw();
    return [wrap, el("p", { class: "tl-range" }, toggle)];
  }

  // The score from the lead's creation (or `from`) to now (solid) and, with no new
  // event, ahead (dashed); the threshold; an orange tick per activity; a "now" line;
  // the moments it became an MQL and will stop being one. Fixed 0-100 axis: every
  // lead reads alike.
  function scoreTimeline(data, from) {
    const lead = data.lead || {};
    let points = (Array.isArray(data.points) ? data.points : [])
      .map((p) => ({ t: ms(p.at), s: p.score, ahead: p.ahead === true }))
      .filter((p) => !Number.isNaN(p.t) && isNumber(p.s));
    let events = (Array.isArray(data.events) ? data.events : [])
      .map((e) => ({ t: ms(e.at), at: e.at, kind: kindLabel(e.kind), colleague: e.colleague === true }))
      .filter((e) => !Number.isNaN(e.t));
    if (from !== null) {
      // The score at `from` is the last one before it: the line starts there, level.
      const before = points.filter((p) => p.t < from);
      points = points.filter((p) => p.t >= from);
      if (before.length) points.unshift({ t: from, s: before[before.length - 1].s, ahead: false });
      events = events.filter((e) => e.t >= from);
    }
    const now = ms(data.now);
    const threshold = isNumber(data.threshold_score) ? data.threshold_score : null;
    const since = ms(lead.mql_since), until = ms(lead.mql_until);

    const W = 760, H = 290, L = 40, R = 16, T = 24, B = 40;
    const times = points.map((p) => p.t).concat(events.map((e) => e.t), [now, until].filter((t) => !Number.isNaN(t)));
    let t0 = from !== null ? from : times.length ? Math.min(...times) : 0;
    let t1 = times.length ? Math.max(...times) : t0;
    if (!(t1 > t0)) t1 = t0 + DAY_MS;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - Math.min(Math.max(v, 0), 100) / 100) * (H - T - B);
    const f = (v) => v.toFixed(1);

    const summary = ["Score over time of lead " + lead.lead_id + ": " + num(lead.score) + " now"];
    if (threshold !== null) summary.push("MQL threshold " + num(threshold));
    if (lead.mql_since) summary.push("an MQL since " + day(lead.mql_since));
    if (lead.mql_until) summary.push("falls below the MQL threshold on " + day(lead.mql_until) + " if nothing else happens");
    const own = events.filter((e) => !e.colleague).length;
    const others = events.length - own;
    summary.push(own + (own === 1 ? " activity" : " activities") + " marked"
      + (others ? " and " + others + " of colleagues at the same account" : "")
      + (from !== null ? " since " + day(from) : ""));
    const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, id: "timeline", role: "img",
      "aria-label": summary.join("; ") + ".", "data-from": new Date(t0).toISOString() });

    // The MQL zone, then the grid and the axes.
    if (threshold !== null) {
      svg.append(svgEl("rect", { x: L, y: y(100), width: W - L - R, height: f(y(threshold) - y(100)), fill: "#eaf5ee",
        class: "tl-mql-zone" }));
    }
    for (const v of [0, 25, 50, 75, 100]) {
      svg.append(svgEl("line", { x1: L, x2: W - R, y1: f(y(v)), y2: f(y(v)), stroke: v === 0 ? "#9aa7b6" : "#e3e8ee",
        "stroke-width": 1 }));
      svg.append(svgEl("text", { x: L - 6, y: f(y(v) + 4), "font-size": 11, fill: "#5b6878", "text-anchor": "end" },
        String(v)));
    }
    const dayMs = DAY_MS;
    const spanDays = (t1 - t0) / dayMs;
    const step = [1, 2, 3, 7, 14, 28, 56, 91, 182, 364].find((d) => spanDays / d <= 7) || 728;
    for (let t = Math.ceil(t0 / dayMs) * dayMs; t <= t1; t += step * dayMs) {
      const d = new Date(t);
      svg.append(svgEl("line", { x1: f(x(t)), x2: f(x(t)), y1: H - B, y2: H - B + 4, stroke: "#9aa7b6" }));
      svg.append(svgEl("text", { x: f(x(t)), y: H - B + 17, "font-size": 11, fill: "#5b6878", "text-anchor": "middle",
        class: "tl-tick" }, d.getUTCDate() + " " + MONTHS[d.getUTCMonth()]
        + (spanDays > 300 || d.getUTCMonth() === 0 ? " " + String(d.getUTCFullYear()).slice(2) : "")));
    }

    // The activities: ticks up from the time axis, each with its kind and time.
    const marks = svgEl("g", { class: "tl-events" });
    for (const e of events) {
      // A colleague's activity moves the account's signals: a shorter grey tick, said in its title.
      const mark = svgEl("g", { class: "tl-event" + (e.colleague ? " tl-colleague" : ""), "data-kind": e.kind,
        "data-at": e.at });
      mark.append(svgEl("title", {}, (e.colleague ? "A colleague's " : "") + e.kind + " \u00b7 " + when(e.at)));
      mark.append(svgEl("rect", { x: f(x(e.t) - 3), y: H - B - 14, width: 6, height: 14, fill: "transparent" }));
      mark.append(svgEl("line", { x1: f(x(e.t)), x2: f(x(e.t)), y1: H - B - (e.colleague ? 6 : 10), y2: H - B,
        stroke: e.colleague ? "#8a8f98" : "#c06a00", "stroke-width": 1.5 }));
      marks.append(mark);
    }
    svg.append(marks);

    if (threshold !== null) {
      svg.append(svgEl("line", { x1: L, x2: W - R, y1: f(y(threshold)), y2: f(y(threshold)), stroke: "#1e7a46",
        "stroke-width": 1.5, class: "tl-threshold", "data-score": threshold }));
      svg.append(svgEl("text", { x: L + 6, y: f(y(threshold) - 6), "font-size": 12, "font-weight": 600, fill: "#1e7a46",
        stroke: "#fff", "stroke-width": 3, "paint-order": "stroke", class: "tl-threshold-label" },
      "MQL threshold (" + num(threshold) + ")"));
    }

    // The score: what happened (solid), then what decay alone would do (dashed).
    const past = points.filter((p) => !p.ahead);
    const ahead = points.filter((p) => p.ahead);
    const line = (ps) => ps.map((p, i) => (i ? "L" : "M") + f(x(p.t)) + " " + f(y(p.s))).join(" ");
    if (past.length) {
      const path = svgEl("path", { d: line(past), fill: "none", stroke: "#1f5fa8", "stroke-width": 2.5,
        "stroke-linejoin": "round", class: "tl-past", "data-points": past.length });
      path.append(svgEl("title", {}, "The score so far"));
      svg.append(path);
    }
    if (ahead.length) {
      const from = past.length ? [past[past.length - 1]] : [];
      const path = svgEl("path", { d: line(from.concat(ahead)), fill: "none", stroke: "#1f5fa8", "stroke-width": 2,
        "stroke-dasharray": "6 5", class: "tl-ahead", "data-points": ahead.length });
      path.append(svgEl("title", {}, "The score ahead if nothing else happens"));
      svg.append(path);
    }

    if (!Number.isNaN(now)) {
      svg.append(svgEl("line", { x1: f(x(now)), x2: f(x(now)), y1: T - 10, y2: H - B, stroke: "#1d2733",
        "stroke-width": 1.5, class: "tl-now" }));
      svg.append(svgEl("text", { x: f(x(now)), y: T - 13, "font-size": 12, "font-weight": 600, fill: "#1d2733",
        "text-anchor": "middle", class: "tl-now-label" }, "now"));
    }
    if (threshold !== null && !Number.isNaN(since) && since >= t0 && since <= t1) {
      const dot = svgEl("circle", { cx: f(x(since)), cy: f(y(threshold)), r: 4.5, fill: "#1e7a46", class: "tl-since" });
      dot.append(svgEl("title", {}, "MQL since " + when(lead.mql_since)));
      svg.append(dot);
    }
    if (threshold !== null && !Number.isNaN(until)) {
      const mark = svgEl("g", { class: "tl-until", "data-at": lead.mql_until });
      mark.append(svgEl("title", {}, "Falls below the MQL threshold on " + when(lead.mql_until)
        + " if nothing else happens"));
      mark.append(svgEl("circle", { cx: f(x(until)), cy: f(y(threshold)), r: 5.5, fill: "#fff", stroke: "#b3261e",
        "stroke-width": 2.5 }));
      // Left of the marker, unless that would cross the "now" line and there is room on the right.
      const labelW = 150, ux = x(until);
      const start = ux - 9 - labelW < x(now) && ux + 9 + labelW <= W - R;
      mark.append(svgEl("text", { x: f(ux + (start ? 9 : -9)), y: f(y(threshold) + 18), "font-size": 12,
        "font-weight": 600, fill: "#b3261e", "text-anchor": start ? "start" : "end", stroke: "#fff", "stroke-width": 3,
        "paint-order": "stroke" }, "below on " + day(lead.mql_until)));
      svg.append(mark);
    }
    return svg;
  }

  // ---------------------------------------------------------------- pasting
  const EXAMPLE = {
    lead_id: "L-EXAMPLE-1", created_at: "2026-01-05T15:00:00Z", account_id: "ACC-EXAMPLE",
    job_title: "VP Digital Innovation", org_type: "health_system", employee_count: 12000,
    country: "US", state: "MA", ehr_vendor: "epic", lead_source: "webinar",
    activities: [
      { occurred_at: "2026-01-05T15:00:00Z", activity_type: "webinar_registered", detail: "Webinar" },
      { occurred_at: "2026-01-20T16:30:00Z", activity_type: "page_view", detail: "/pricing" },
      { occurred_at: "2026-01-21T09:10:00Z", activity_type: "baa_request", detail: null },
    ],
  };

  function requestBody(text, asOf) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new ApiError(400, { error: "The text is not valid JSON.",
        problems: [{ field: "body", message: e.message }] });
    }
    let body;
    if (Array.isArray(data)) body = { leads: data };
    else if (data && typeof data === "object" && "leads" in data) body = Object.assign({}, data);
    else if (data && typeof data === "object") body = { leads: [data] };
    else {
      throw new ApiError(400, { error: "Paste a JSON object: one lead, or a body with \"leads\".",
        problems: [{ field: "body", message: "must be an object" }] });
    }
    if (asOf.trim()) body.as_of = asOf.trim();
    return body;
  }

  async function scorePaste() {
    const box = $("paste-error");
    box.hidden = true;
    $("paste-results").hidden = true;
    const button = $("score-button");
    button.disabled = true;
    try {
      const body = requestBody($("paste").value, $("as-of").value);
      const data = await api("POST", "/ui/api/score", JSON.stringify(body), { "Content-Type": "application/json" });
      const list = $("paste-list");
      list.replaceChildren();
      if (data.scores.length > 1) {
        for (const s of data.scores) {
          const b = el("button", { type: "button", class: "quiet",
            text: s.lead_id + " \u00b7 " + num(s.score) + " \u00b7 tier " + (s.tier || "?") });
          b.addEventListener("click", () => renderCard(s, data.as_of, "pasted", null, data));
          list.append(el("li", {}, b));
        }
        $("paste-results").hidden = false;
      }
      renderCard(data.scores[0], data.as_of, "pasted", null, data);
    } catch (e) {
      showProblem(box, e, "paste");
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- the card
  // `extra`: nodes shown under the headline (a stored lead's timeline and hand-offs);
  // `response`: the POST /score answer the lead came in, whose `accounts` give its account
  // view, or a stored lead's timeline, whose `account` does.
  function renderCard(lead, asOf, origin, extra, response) {
    const card = $("card");
    if (!extra) stored.cardSeq++;  // a stored lead still loading must not replace this card
    card.removeAttribute("aria-busy");
    const reasons = Array.isArray(lead.reasons) ? lead.reasons : null;
    const article = el("article", { "data-testid": "lead-card", "data-lead-id": lead.lead_id });

    article.append(el("div", { class: "card-head" },
      el("h2", {}, "Lead ", el("code", { id: "card-lead-id", text: lead.lead_id })),
      el("span", { class: "muted", text: (asOf ? "scored as of " + when(asOf) : "") + (origin ? " \u00b7 " + origin : "") })));

    const mql = lead.is_mql === true ? "Yes" : lead.is_mql === false ? "No" : "\u2014";
    article.append(el("div", { class: "headline" },
      el("div", { class: "score-box" },
        el("span", { class: "label", text: "Score" }),
        el("span", { class: "big", id: "card-score", text: num(lead.score) }),
        el("span", { class: "of", text: " / 100" })),
      el("dl", { class: "facts" },
        el("dt", { text: "Tier" }),
        el("dd", {}, tierBadge(lead.tier, "card-tier")),
        el("dt", { text: "MQL" }),
        el("dd", { id: "card-mql", class: lead.is_mql ? "mql-yes" : "mql-no", text: mql }),
        el("dt", { text: "Probability of SQL" }),
        el("dd", { id: "card-probability", text: isNumber(lead.probability) ? percent(lead.probability) : "\u2014" }))));
    const model = [lead.model_name, lead.model_version ? "v" + lead.model_version : ""].filter(Boolean).join(" ");
    article.append(el("p", { class: "model-line", id: "card-model", text: model ? "Model " + model : "" }));
    if (extra) article.append(...extra);

    const hasPoints = isNumber(lead.base_points) && isNumber(lead.fit_points) && isNumber(lead.intent_points);
    if (hasPoints) {
      article.append(el("h3", { text: "Fit and intent" }), fitIntentChart(lead.fit_points, lead.intent_points),
        el("p", { class: "legend", text: "Fit: who the lead is (organisation, size, persona, EHR, region). "
          + "Intent: what the lead and its account did; it fades with time. Points are added to the base score." }));
    }

    article.append(el("h3", { text: "Why: the strongest signals" }));
    if (reasons && reasons.length) {
      const list = el("ol", { class: "reasons", id: "card-reasons" });
      for (const r of reasons) {
        list.append(el("li", { "data-points": r.points },
          el("span", { class: "pts " + (r.points < 0 ? "neg" : "pos"), text: signed(r.points) }),
          el("span", { class: "tag " + r.group, text: r.group }),
          el("span", { class: "text", text: r.text })));
      }
      article.append(list);
    } else {
      article.append(el("p", { class: "muted", text: "No reasons for this lead (scored without them)." }));
    }

    if (hasPoints && reasons) {
      article.append(el("h3", { text: "From the base score to this one" }));
      const chart = waterfall(lead, reasons);
      article.append(chart.svg);
      article.append(el("p", { class: "note", id: "clip-note", text: chart.note }));
    }
    const account = accountOf(response, lead.lead_id);
    if (account) article.append(accountView(account, response, asOf, origin));
    card.replaceChildren(article);
  }

  // ---------------------------------------------------------------- the account view
  function accountOf(response, leadId) {
    if (!response) return null;
    const accounts = Array.isArray(response.accounts) ? response.accounts
      : response.account && typeof response.account === "object" ? [response.account] : [];
    return accounts.find((a) => Array.isArray(a.lead_ids) && a.lead_ids.includes(leadId)) || null;
  }

  const STATE_LABELS = { engaged: "engaged", recent: "recently active", silent: "known, silent", missing: "missing" };
  const ROLE_LABELS = { clinical_champion: "clinical champion", it_security: "IT security", finance: "finance",
    compliance: "compliance" };

  // The lead's account scored as a whole: score, tier, MQA, the committee's coverage, the
  // missing role worth finding, the account's leads by score (each opens its card: a pasted
  // lead's from the same answer, a stored lead's from the store) and the reasons, whose
  // points add up to the account's score.
  function accountView(account, response, asOf, origin) {
    const box = el("section", { class: "account", "data-testid": "account-view", "data-account-id": account.account_id });
    box.append(el("h3", {}, "Account ", el("code", { id: "account-id", text: account.account_id })));
    const mqa = account.is_mqa === true ? "Yes" : account.is_mqa === false ? "No" : "\u2014";
    box.append(el("div", { class: "headline" },
      el("div", { class: "score-box" },
        el("span", { class: "label", text: "Account score" }),
        el("span", { class: "big", id: "account-score", text: num(account.score) }),
        el("span", { class: "of", text: " / 100" })),
      el("dl", { class: "facts" },
        el("dt", { text: "Tier" }),
        el("dd", {}, tierBadge(account.tier, "account-tier")),
        el("dt", { text: "MQA" }),
        el("dd", { id: "account-mqa", class: account.is_mqa ? "mql-yes" : "mql-no", text: mqa }),
        el("dt", { text: "Probability of an SQL" }),
        el("dd", { id: "account-probability",
          text: isNumber(account.probability) ? percent(account.probability) : "\u2014" }))));

    box.append(el("h4", { text: "Buying committee" }));
    const roles = el("ul", { class: "coverage", id: "account-coverage" });
    for (const c of account.coverage || []) {
      roles.append(el("li", { "data-role": c.role, "data-state": c.state },
        el("span", { class: "state state-" + (STATE_LABELS[c.state] ? c.state : "missing"),
          text: STATE_LABELS[c.state] || String(c.state) }),
        el("span", { class: "text", text: c.text })));
    }
    box.append(roles);
    if (account.best_missing_text) {
      box.append(el("p", { class: "next-role", id: "account-best-missing", "data-role": account.best_missing_role,
        text: account.best_missing_text }));
    }

    box.append(el("h4", { text: "Leads of the account, highest score first" }));
    const table = el("table", { class: "leads", id: "account-leads" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: "Lead" }), el("th", { scope: "col", class: "num", text: "Score" }),
        el("th", { scope: "col", text: "Committee role" }), el("th", { scope: "col", text: "Activity" }))));
    const body = el("tbody");
    const byId = new Map(((response && response.scores) || []).map((s) => [s.lead_id, s]));
    // A stored lead's colleagues are stored leads: each opens its own stored card.
    const fromStore = Boolean(response) && Array.isArray(response.account_leads);
    const storedIds = new Set(fromStore ? response.account_leads.map((m) => m && m.lead_id) : []);
    for (const m of account.leads || []) {
      const lead = byId.get(m.lead_id);
      const open = el("button", { type: "button", class: "link", text: m.lead_id });
      if (fromStore && storedIds.has(m.lead_id)) open.addEventListener("click", () => openStored(m.lead_id));
      else if (!fromStore && lead) open.addEventListener("click", () => renderCard(lead, asOf, origin, null, response));
      else open.disabled = true;
      body.append(el("tr", { "data-lead-id": m.lead_id },
        el("td", {}, open), el("td", { class: "num", text: num(m.score) }),
        el("td", { text: m.committee_role ? (ROLE_LABELS[m.committee_role] || m.committee_role.replace(/_/g, " "))
          : "\u2014" }),
        el("td", { text: STATE_LABELS[m.state] || String(m.state) })));
    }
    table.append(body);
    box.append(el("div", { class: "list-wrap" }, table));

    box.append(el("h4", { text: "Why: the account's signals" }));
    if (Array.isArray(account.reasons) && account.reasons.length) {
      const list = el("ol", { class: "reasons account-reasons", id: "account-reasons" });
      for (const r of account.reasons) {
        list.append(el("li", { "data-points": r.points },
          el("span", { class: "pts " + (r.points < 0 ? "neg" : "pos"), text: signed(r.points) }),
          el("span", { class: "text", text: r.text })));
      }
      box.append(list);
      if (isNumber(account.base_points)) {
        const total = account.reasons.reduce((s, r) => s + r.points, account.base_points);
        box.append(el("p", { class: "note", id: "account-sum",
          text: "Base " + num(account.base_points) + " (an average account) plus these points: " + num(total)
            + (total > 100 ? "; scores stop at 100." : total < 0 ? "; scores stop at 0." : ".") }));
      }
    } else {
      box.append(el("p", { class: "muted", text: "No reasons for this account (scored without them)." }));
    }
    return box;
  }

  // Two signed bars on one zero line: how much fit and how much intent add (or take).
  function fitIntentChart(fit, intent) {
    const W = 760, label = 90, value = 80, rowH = 30, top = 6;
    const width = W - label - value;
    const m = Math.max(Math.abs(fit), Math.abs(intent), 5);
    const zero = label + width / 2;
    const x = (v) => zero + (v / m) * (width / 2);
    const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + (top * 2 + rowH * 2), id: "fit-intent", role: "img",
      "aria-label": "Fit " + signed(fit) + " points, intent " + signed(intent) + " points" });
    [["fit", "Fit", fit, "#1f5fa8"], ["intent", "Intent", intent, "#c06a00"]].forEach(([kind, name, v, color], i) => {
      const y = top + i * rowH;
      svg.append(svgEl("text", { x: 0, y: y + 19, "font-size": 14, "font-weight": 600, fill: "#1d2733" }, name));
      const x0 = Math.min(x(0), x(v)), w = Math.max(Math.abs(x(v) - x(0)), 1.5);
      const bar = svgEl("rect", { x: x0, y: y + 5, width: w, height: rowH - 10, rx: 3, fill: color,
        "data-kind": kind, "data-value": v });
      bar.append(svgEl("title", {}, name + " " + signed(v) + " points"));
      svg.append(bar);
      svg.append(svgEl("text", { x: W - value + 8, y: y + 19, "font-size": 14, "font-weight": 600,
        fill: v < 0 ? "#b3261e" : "#1e7a46", class: "fi-value" }, signed(v)));
    });
    svg.append(svgEl("line", { x1: zero, x2: zero, y1: 2, y2: top * 2 + rowH * 2 - 2, stroke: "#5b6878",
      "stroke-width": 1 }));
    return svg;
  }

  // Base points, each reason's points in the order given, the other signals
  // (what the listed reasons leave out), then the score (clipped to 0-100).
  function waterfall(lead, reasons) {
    const base = lead.base_points;
    const unclipped = base + lead.fit_points + lead.intent_points;
    const listed = reasons.reduce((s, r) => s + r.points, 0);
    const steps = [{ kind: "base", label: "Base score (an average lead)", start: 0, end: base }];
    let run = base;
    for (const r of reasons) {
      steps.push({ kind: "reason", label: r.text, group: r.group, start: run, end: run + r.points });
      run += r.points;
    }
    const other = unclipped - base - listed;
    steps.push({ kind: "other", label: "Other signals", start: run, end: run + other });
    steps.push({ kind: "total", label: "Score", start: 0, end: lead.score });

    const W = 760, labelW = 300, valueW = 70, rowH = 26, top = 4, axisH = 22;
    const barW = W - labelW - valueW - 10;
    let lo = 0, hi = 100;
    for (const s of steps) { lo = Math.min(lo, s.start, s.end); hi = Math.max(hi, s.start, s.end); }
    const x = (v) => labelW + ((v - lo) / (hi - lo)) * barW;
    const H = top + steps.length * rowH + axisH;
    const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, id: "waterfall", role: "img",
      "aria-label": "Waterfall from the base score " + num(base) + " to the score " + num(lead.score) });

    for (const tick of [0, 25, 50, 75, 100]) {
      if (tick < lo || tick > hi) continue;
      svg.append(svgEl("line", { x1: x(tick), x2: x(tick), y1: top, y2: H - axisH + 2,
        stroke: tick === 0 || tick === 100 ? "#9aa7b6" : "#e3e8ee", "stroke-width": 1 }));
      svg.append(svgEl("text", { x: x(tick), y: H - 6, "font-size": 11, fill: "#5b6878", "text-anchor": "middle" },
        String(tick)));
    }
    const colors = { base: "#8a96a6", other: "#b8c2cf", total: "#1f5fa8" };
    steps.forEach((s, i) => {
      const y = top + i * rowH;
      const delta = s.end - s.start;
      const fill = s.kind === "reason" ? (delta < 0 ? "#c4453c" : "#2e8b57") : colors[s.kind];
      const bold = s.kind === "total" || s.kind === "base";
      const label = svgEl("text", { x: 0, y: y + 17, "font-size": 13, fill: "#1d2733",
        "font-weight": bold ? 700 : 400 }, short(s.label, 44));
      label.append(svgEl("title", {}, s.label));
      svg.append(label);
      const x0 = Math.min(x(s.start), x(s.end));
      const bar = svgEl("rect", { x: x0, y: y + 4, width: Math.max(Math.abs(x(s.end) - x(s.start)), 1.5),
        height: rowH - 8, rx: 2, fill, class: "wf-bar", "data-kind": s.kind, "data-start": s.start.toFixed(2),
        "data-end": s.end.toFixed(2) });
      bar.append(svgEl("title", {}, s.label + ": " + (s.kind === "reason" || s.kind === "other"
        ? signed(delta) + " points" : num(s.end))));
      svg.append(bar);
      if (i < steps.length - 2) {  // a connector to the next step's start
        svg.append(svgEl("line", { x1: x(s.end), x2: x(s.end), y1: y + rowH - 4, y2: y + rowH + 4,
          stroke: "#5b6878", "stroke-width": 1, "stroke-dasharray": "2 2" }));
      }
      const text = s.kind === "reason" || s.kind === "other" ? signed(delta) : num(s.end);
      svg.append(svgEl("text", { x: W - valueW + 10, y: y + 17, "font-size": 13,
        "font-weight": bold ? 700 : 600, class: "wf-value", "data-kind": s.kind,
        fill: s.kind === "reason" ? (delta < 0 ? "#b3261e" : "#1e7a46") : "#1d2733" }, text));
    });

    let note = "Each bar starts where the previous one ended; \u201cother signals\u201d are all the signals "
      + "not listed above together.";
    if (unclipped > 100.05) {
      note += " The points add up to " + num(unclipped) + "; scores stop at 100, so the score is 100.";
    } else if (unclipped < -0.05) {
      note += " The points add up to " + num(unclipped) + "; scores stop at 0, so the score is 0.";
    }
    return { svg, note };
  }

  // ---------------------------------------------------------------- wiring
  function selectTab(which) {
    for (const name of ["file", "paste", "stored"]) {
      const on = name === which;
      $("tab-" + name).setAttribute("aria-selected", on ? "true" : "false");
      $("panel-" + name).hidden = !on;
    }
    if (which === "stored") refreshStored();  // the store changes as events arrive: a fresh page each time
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("tab-file").addEventListener("click", () => selectTab("file"));
    $("tab-paste").addEventListener("click", () => selectTab("paste"));
    $("tab-stored").addEventListener("click", () => selectTab("stored"));
    let storedTimer = null;
    $("stored-search").addEventListener("input", (e) => {
      clearTimeout(storedTimer);
      storedTimer = setTimeout(() => { stored.q = e.target.value.trim(); stored.offset = 0; refreshStored(); }, 250);
    });
    $("stored-mql").addEventListener("change", (e) => { stored.mql = e.target.checked; stored.offset = 0; refreshStored(); });
    $("stored-prev").addEventListener("click", () => { stored.offset = Math.max(0, stored.offset - PAGE); refreshStored(); });
    $("stored-next").addEventListener("click", () => { stored.offset += PAGE; refreshStored(); });
    $("file-input").addEventListener("change", (e) => {
      const file = e.target.files && e.target.files[0];
      if (file) openFile(file);
    });
    let timer = null;
    $("search").addEventListener("input", (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.q = e.target.value; state.offset = 0; refreshList(); }, 150);
    });
    $("order").addEventListener("change", (e) => { state.order = e.target.value; state.offset = 0; refreshList(); });
    $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); refreshList(); });
    $("next").addEventListener("click", () => { state.offset += PAGE; refreshList(); });
    $("score-button").addEventListener("click", scorePaste);
    $("paste").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) scorePaste();
    });
    $("example-button").addEventListener("click", () => {
      $("paste").value = JSON.stringify(EXAMPLE, null, 2);
      $("as-of").value = "2026-02-01T00:00:00Z";
    });
    loadModel();
    loadPreloaded();
  });
})();
