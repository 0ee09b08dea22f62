"""Account scores people can act on, from scored leads: probability, 0-100 score,
tier, MQA flag, committee coverage in words, the missing role that would raise the
score most, and points per signal that add up to the score.

:func:`score_accounts` is the one way an account is scored: the account file
(``mqlscore score --accounts``), ``POST /score``'s ``accounts`` and the lead card's
account view all call it with the leads already scored, so their numbers agree.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.accounts.members import MemberArrays, lead_log_odds, member_arrays
from mqlscore.contract import Dataset
from mqlscore.contract.schema import (ACCOUNT_FILE_COLUMNS, COMMITTEE_STATES, DEFAULT_MODEL_NAME, ROLE_FIELDS,
                                      TIMESTAMP_DTYPE)
from mqlscore.explain import account_reason_text, missing_role_text, reasons_text, role_state_text
from mqlscore.features import open_leads_at
from mqlscore.features.events import to_us
from mqlscore.models.account import STATE_CODES
from mqlscore.scoring import ScoringModel, tiers_of

# Leads named one by one in an aggregation's reasons; the rest are summed into one reason.
MAX_LEAD_REASONS = 8
STATE_OF_CODE = {code: state for state, code in STATE_CODES.items()}
NULLABLE = ("best_missing_role", "best_missing_points", "best_missing_text", "base_points", "reasons", "reasons_text")
# A scored account: the account file's columns with the lists as lists (``reasons``, ``lead_ids``),
# each lead's score, role and state (``members``) and every role's state in words (``coverage``).
_AS_LISTS = {"reasons_json": "reasons", "lead_ids_json": "lead_ids"}
ACCOUNT_COLUMNS = (*(_AS_LISTS.get(c, c) for c in ACCOUNT_FILE_COLUMNS[:-2]), "members", "coverage",
                   *ACCOUNT_FILE_COLUMNS[-2:])


def _lead_state(days: float, engaged_days: float, recent_days: float) -> str:
    if days <= engaged_days:
        return "engaged"
    return "recent" if days <= recent_days else "silent"


def evidence_for(evidence: dict[str, Any] | None, org_type: object, role: str) -> dict[str, Any] | None:
    """What training measured about ``role`` for accounts of ``org_type`` (that type's
    figures when it had enough accounts, else every account's); None when nothing."""
    if not evidence:
        return None
    part = (evidence.get("by_org_type") or {}).get(str(org_type)) or evidence.get("all")
    if not part or not part.get("sql_accounts"):
        return None
    shares = (part.get("roles") or {}).get(role) or {}
    return {"org_type": part.get("org_type"), "sql_accounts": part["sql_accounts"], **shares}


def score_accounts(model: ScoringModel, leads: pd.DataFrame, activities: pd.DataFrame,
                   lead_scores: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
    """One row per account among the scored leads (:data:`ACCOUNT_COLUMNS`; leads without
    an account are left out), highest score first.

    ``lead_scores`` are the members' own scores from ``ScoringModel.score`` (``lead_id``,
    ``as_of``, ``score``, and ``log_odds`` and ``alone_log_odds`` when scored with
    ``alone=True``, else they are computed again), ``leads`` and ``activities`` the
    contract tables they were scored from. An account's leads are those of
    ``lead_scores``. No row when the model has no account scores (trained before them) or
    no lead has an account."""
    rows = account_records(model, leads, activities, lead_scores, reasons)
    if not rows:
        return pd.DataFrame({c: [] for c in ACCOUNT_COLUMNS})
    out = pd.DataFrame(rows, columns=list(ACCOUNT_COLUMNS))
    for c in NULLABLE:  # None stays None (a float column would turn it into NaN)
        out[c] = pd.Series([r[c] for r in rows], dtype=object)
    return out


def account_records(model: ScoringModel, leads: pd.DataFrame, activities: pd.DataFrame,
                    lead_scores: pd.DataFrame | Mapping[str, Any], reasons: bool = True) -> list[dict[str, Any]]:
    """:func:`score_accounts`' rows as plain dicts, in its order: what ``POST /score``
    answers, without the frames (for a request's handful of leads they cost more than the
    scoring). ``lead_scores``: a frame, or its columns by name (lists or arrays)."""
    if model.accounts is None or not len(lead_scores["lead_id"]):
        return []
    as_of = lead_scores["as_of"]
    as_of = as_of if isinstance(as_of, pd.DatetimeIndex) else pd.DatetimeIndex(as_of)
    found = member_arrays(model, leads, activities, lead_scores["lead_id"], to_us(as_of), accounts_only=True)
    if not found.n_rows:
        return []
    kept, members = found.kept, dict(found.members)
    if "log_odds" in lead_scores and "alone_log_odds" in lead_scores:
        members["log_odds"] = np.asarray(lead_scores["log_odds"], float)[kept]
        members["solo_log_odds"] = np.asarray(lead_scores["alone_log_odds"], float)[kept]
    else:
        members["log_odds"], members["solo_log_odds"] = lead_log_odds(
            model, leads, activities, pd.DataFrame({"lead_id": members["lead_id"], "as_of": as_of[kept]}))
    members["lead_score"] = np.asarray(lead_scores["score"], float)[kept]
    rows = _account_rows(model, found, members, as_of[kept[found.rows["first"]]], reasons)
    score = np.array([r["score"] for r in rows], float)
    # highest score first, then by account id; a stable sort keeps ties in order of appearance
    order = np.lexsort((np.array([r["account_id"] for r in rows], dtype=object), -score))
    return [rows[k] for k in order]


def _account_rows(model: ScoringModel, found: MemberArrays, members: dict[str, np.ndarray],
                  as_of: pd.DatetimeIndex, reasons: bool) -> list[dict[str, Any]]:
    """The scored account rows of ``found`` (``members``: its members with their log-odds
    and scores; ``as_of``: each row's time), in the order of the rows."""
    accounts = model.accounts
    am, scale = accounts.model, accounts.scale
    n = found.n_rows
    # what every part below reads, computed once
    states = am.states(members, n)
    design = am.design_matrix(members, n, states) if am.method == "learned" else None
    log_odds = am.log_odds(members, n, design)
    unclipped = scale.unclipped(log_odds)
    score = scale.score(log_odds)
    probability = 0.5 * (1 + np.tanh(0.5 * log_odds))
    tiers = tiers_of(score, model.config.tier_cutoffs)
    evidence = accounts.metadata.get("evidence")
    # the missing role whose engaged contact would add the most points, by the account model
    missing = states == STATE_CODES["missing"]
    gains = np.full((n, len(am.roles)), -np.inf)
    if missing.any():
        added = scale.unclipped(am.with_contact(members, n)) - unclipped[:, None]
        gains[missing] = added[missing]
    base, parts = am.explain_arrays(members, n, design, log_odds) if reasons else (None, None)
    row_of = members["row"]
    lead_ids, lead_score, role, days = members["lead_id"], members["lead_score"], members["role"], members["days_since"]
    order = np.lexsort((lead_ids, -lead_score, row_of))
    by_row: list[list[int]] = [[] for _ in range(n)]
    for k in order:
        by_row[row_of[k]].append(int(k))
    parts_by_row = _positions_by_row(parts["row"], n) if parts is not None else []
    # plain arrays: a reason reads a handful of cells
    columns = ({"signal": parts["signal"], "member": parts["member"], "logit": parts["logit"],
                "lead_id": lead_ids, "role": role, "days": days} if parts is not None else {})
    name = str(model.metadata.get("model_name", DEFAULT_MODEL_NAME))
    version = str(model.metadata.get("model_version", "unregistered"))
    # a role's coverage in words depends on its state only: worded once per call
    state_text = functools.lru_cache(maxsize=None)(
        lambda role, state: role_state_text(role, state, am.engaged_days, am.recent_days))
    rows = []
    for i in range(n):
        idx = by_row[i]
        org_type = found.rows["org_type"][i]
        roles_in = {state: [r for j, r in enumerate(am.roles) if STATE_OF_CODE[int(states[i, j])] == state]
                    for state in COMMITTEE_STATES}
        best_missing, best_points, best_text = None, None, None
        if np.isfinite(gains[i]).any():
            j = int(np.argmax(gains[i]))
            best_missing, best_points = am.roles[j], round(float(gains[i, j]), 1)
            best_text = missing_role_text(best_missing, org_type, evidence_for(evidence, org_type, best_missing),
                                          best_points)
        coverage = [{"role": r, "state": STATE_OF_CODE[int(states[i, j])],
                     "text": state_text(r, STATE_OF_CODE[int(states[i, j])])} for j, r in enumerate(am.roles)]
        lead_rows = [{"lead_id": lead_ids[k], "score": float(lead_score[k]),
                      "committee_role": str(role[k]) if role[k] in am.roles else None,
                      "state": _lead_state(days[k], am.engaged_days, am.recent_days)} for k in idx]
        items = (_reasons(am, columns, parts_by_row[i], idx, states[i], scale.points_per_logit)
                 if reasons else None)
        rows.append({
            "account_id": str(found.rows["account_id"][i]), "as_of": as_of[i],
            "probability": float(probability[i]), "score": round(float(score[i]), 1),
            "tier": str(tiers[i]),
            "is_mqa": bool(probability[i] >= accounts.threshold), "n_leads": len(idx),
            **{f"roles_{state}": roles_in[state] for state in COMMITTEE_STATES},
            "best_missing_role": best_missing, "best_missing_points": best_points, "best_missing_text": best_text,
            "base_points": round(float(scale.unclipped(base[i])), 2) if reasons else None,
            "reasons": items, "reasons_text": reasons_text(items) if items is not None else None,
            "lead_ids": [r["lead_id"] for r in lead_rows], "members": lead_rows, "coverage": coverage,
            "model_name": name, "model_version": version,
        })
    return rows


def _positions_by_row(row: np.ndarray, n_rows: int) -> list[np.ndarray]:
    """Per row, the positions holding it, in order."""
    order = np.argsort(row, kind="stable")
    return np.split(order, np.cumsum(np.bincount(row, minlength=n_rows))[:-1])


def _reasons(am: Any, columns: dict[str, np.ndarray], part_rows: np.ndarray, member_rows: list[int],
             state_codes: np.ndarray, points_per_logit: float) -> list[dict[str, Any]]:
    """Every signal of one account with its points, largest first: together with the base
    points they are the account's score before clipping to 0-100 (a signal under 0.005
    points is left out)."""
    days, lead_id, role = columns["days"], columns["lead_id"], columns["role"]
    engaged = int(sum(days[k] <= am.engaged_days for k in member_rows))
    items: list[dict[str, Any]] = []
    leads: list[tuple[float, int]] = []
    for r in np.asarray(part_rows, int):
        signal, member = str(columns["signal"][r]), int(columns["member"][r])
        points = float(columns["logit"][r]) * points_per_logit
        if signal == "lead":
            leads.append((points, member))
            continue
        facts: dict[str, Any] = {"n_leads": len(member_rows), "engaged": engaged}
        if member >= 0:
            facts.update(lead_id=lead_id[member], role=role[member], days_since=days[member])
        if signal.startswith("role:"):
            facts["state"] = STATE_OF_CODE[int(state_codes[am.roles.index(signal[5:])])]
        items.append({"signal": signal, "text": account_reason_text(signal, facts, am.engaged_days, am.recent_days),
                      "points": points})
    leads.sort(key=lambda x: -abs(x[0]))
    for points, member in leads[:MAX_LEAD_REASONS]:
        items.append({"signal": "lead", "points": points, "text": account_reason_text(
            "lead", {"lead_id": lead_id[member], "role": role[member], "days_since": days[member]},
            am.engaged_days, am.recent_days)})
    rest = leads[MAX_LEAD_REASONS:]
    if rest:
        items.append({"signal": "other_leads", "points": sum(p for p, _ in rest),
                      "text": f"{len(rest)} more leads of the account"})
    items.sort(key=lambda r: -abs(r["points"]))
    # a signal the model gives no weight adds nothing: not a reason (the rest still add up)
    return [{**r, "points": round(r["points"], 2), "sign": "+" if r["points"] >= 0 else "-"} for r in items
            if abs(r["points"]) >= 0.005]


def score_open_accounts(model: ScoringModel, dataset: Dataset) -> pd.DataFrame:
    """Every account with a lead open at the dataset's as-of time, scored from its open
    leads (:func:`score_accounts`); no row when none."""
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    scored = model.score(dataset.leads, dataset.activities, rows, reasons=False, alone=model.accounts is not None)
    return score_accounts(model, dataset.leads, dataset.activities, scored)


def account_file_frame(scored: pd.DataFrame) -> pd.DataFrame:
    """Scored accounts as the rows of an account file (:data:`ACCOUNT_FILE_COLUMNS`):
    the role lists, the reasons and the lead ids as JSON text."""
    out = pd.DataFrame({c: scored[c] for c in ACCOUNT_FILE_COLUMNS
                        if c in scored and c not in (*ROLE_FIELDS, "reasons_json", "lead_ids_json")})
    for c in ROLE_FIELDS:
        out[c] = [json.dumps(list(v)) for v in scored[c]]
    out["reasons_json"] = [json.dumps(v) if v is not None else None for v in scored["reasons"]]
    out["lead_ids_json"] = [json.dumps(list(v)) for v in scored["lead_ids"]]
    if not len(out):
        out["as_of"] = pd.Series([], dtype=TIMESTAMP_DTYPE)
    return out[list(ACCOUNT_FILE_COLUMNS)]
