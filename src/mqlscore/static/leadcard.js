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

  function when(text) {
    if (!text) return "";
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) return String(text);
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
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
  const state = { q: "", order: "desc", offset: 0, selected: null, seq: 0 };

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
      if (page.source) {
        useSource({ server: true, name: page.source },
          page.source + ": " + count(page.total) + " leads (loaded by the service)");
      }
    } catch (e) {
      if (e.status === 401) { window.location.assign("/ui"); return; }
      showProblem($("file-error"), e, "file");
    }
  }

  async function openFile(file) {
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
          b.addEventListener("click", () => renderCard(s, data.as_of, "pasted"));
          list.append(el("li", {}, b));
        }
        $("paste-results").hidden = false;
      }
      renderCard(data.scores[0], data.as_of, "pasted");
    } catch (e) {
      showProblem(box, e, "paste");
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- the card
  function renderCard(lead, asOf, origin) {
    const card = $("card");
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
    card.replaceChildren(article);
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
    for (const name of ["file", "paste"]) {
      const on = name === which;
      $("tab-" + name).setAttribute("aria-selected", on ? "true" : "false");
      $("panel-" + name).hidden = !on;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("tab-file").addEventListener("click", () => selectTab("file"));
    $("tab-paste").addEventListener("click", () => selectTab("paste"));
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
