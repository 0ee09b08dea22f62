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
from dataclasses import dataclass
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
_STATE_NAMES = np.array([STATE_OF_CODE[code] for code in range(len(STATE_CODES))], dtype=object)  # by code
NULLABLE = ("best_missing_role", "best_missing_points", "best_missing_text", "base_points", "reasons", "reasons_text")
# A scored account: the account file's columns with the lists as lists (``reasons``, ``lead_ids``),
# each lead's score, role and state (``members``) and every role's state in words (``coverage``).
_AS_LISTS = {"reasons_json": "reasons", "lead_ids_json": "lead_ids"}
ACCOUNT_COLUMNS = (*(_AS_LISTS.get(c, c) for c in ACCOUNT_FILE_COLUMNS[:-2]), "members", "coverage",
                   *ACCOUNT_FILE_COLUMNS[-2:])


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
    # the numbers of every row at once (NumPy), then plain lists: a row reads a handful of
    # cells, and a list's cell costs a fraction of an array's
    states = am.states(members, n)
    design = am.design_matrix(members, n, states) if am.method == "learned" else None
    log_odds = am.log_odds(members, n, design)
    unclipped = scale.unclipped(log_odds)
    score = scale.score(log_odds)
    probability = (0.5 * (1 + np.tanh(0.5 * log_odds))).tolist()
    tiers = tiers_of(score, model.config.tier_cutoffs).tolist()
    score = score.tolist()
    state_names = _STATE_NAMES[states].tolist()
    best_role, best_points = _best_missing(am, scale, members, n, states, unclipped)
    lead_rows = _lead_rows(am, members)
    by_row = _positions_by_row(members["row"], n, np.lexsort((members["lead_id"], -members["lead_score"],
                                                                members["row"])))
    signals = _Signals.of(am, members, n, design, log_odds, scale) if reasons else None
    evidence = accounts.metadata.get("evidence")
    account_ids = [str(a) for a in found.rows["account_id"].tolist()]
    org_types = found.rows["org_type"].tolist()
    name = str(model.metadata.get("model_name", DEFAULT_MODEL_NAME))
    version = str(model.metadata.get("model_version", "unregistered"))
    rows = []
    for i, (state_of, idx, as_of_i) in enumerate(zip(state_names, by_row, as_of)):
        org_type, j = org_types[i], best_role[i]
        best_missing, best_text, points = None, None, None
        if j >= 0:
            best_missing, points = am.roles[j], round(best_points[i], 1)
            best_text = missing_role_text(best_missing, org_type, evidence_for(evidence, org_type, best_missing),
                                          points)
        items = signals.reasons(i, idx, state_of) if signals is not None else None
        members_i = [lead_rows[k] for k in idx]
        rows.append({
            "account_id": account_ids[i], "as_of": as_of_i,
            "probability": probability[i], "score": round(score[i], 1), "tier": tiers[i],
            "is_mqa": probability[i] >= accounts.threshold, "n_leads": len(idx),
            **{f"roles_{state}": [r for r, s in zip(am.roles, state_of) if s == state] for state in COMMITTEE_STATES},
            "best_missing_role": best_missing, "best_missing_points": points, "best_missing_text": best_text,
            "base_points": round(signals.base_points[i], 2) if signals is not None else None,
            "reasons": items, "reasons_text": reasons_text(items) if items is not None else None,
            "lead_ids": [m["lead_id"] for m in members_i], "members": members_i,
            "coverage": [{"role": r, "state": s, "text": _coverage_text(r, s, am.engaged_days, am.recent_days)}
                         for r, s in zip(am.roles, state_of)],
            "model_name": name, "model_version": version,
        })
    return rows


@functools.lru_cache(maxsize=256)
def _coverage_text(role: str, state: str, engaged_days: float, recent_days: float) -> str:
    """A role's coverage in words (:func:`~mqlscore.explain.role_state_text`): it depends on
    the role and its state only, so it is worded once per process, not once per account."""
    return role_state_text(role, state, engaged_days, recent_days)


def _best_missing(am: Any, scale: Any, members: dict[str, np.ndarray], n_rows: int, states: np.ndarray,
                  unclipped: np.ndarray) -> tuple[list[int], list[float]]:
    """Per row, the missing role whose engaged contact would add the most points by the
    account model (its position in ``am.roles``; -1 when no role is missing) and those
    points (before rounding)."""
    gains = np.full((n_rows, len(am.roles)), -np.inf)
    missing = states == STATE_CODES["missing"]
    if missing.any():
        added = scale.unclipped(am.with_contact(members, n_rows)) - unclipped[:, None]
        gains[missing] = added[missing]
    if not len(am.roles):
        return [-1] * n_rows, [0.0] * n_rows
    best = gains.argmax(axis=1)  # the first of equal gains, as for one row
    return (np.where(np.isfinite(gains).any(axis=1), best, -1).tolist(),
            gains[np.arange(n_rows), best].tolist())


def _lead_rows(am: Any, members: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per member, its line of the account view: lead id, score, committee role (None
    when not on the committee) and state (engaged, recent or silent)."""
    days = members["days_since"]
    # NaN (no activity) is neither engaged nor recent: silent
    state = np.where(days <= am.engaged_days, "engaged", np.where(days <= am.recent_days, "recent", "silent"))
    roles = am.roles
    return [{"lead_id": lead_id, "score": score, "committee_role": str(role) if role in roles else None,
             "state": s}
            for lead_id, score, role, s in zip(members["lead_id"].tolist(), members["lead_score"].tolist(),
                                               members["role"].tolist(), state.tolist())]


def _positions_by_row(row: np.ndarray, n_rows: int, order: np.ndarray | None = None) -> list[list[int]]:
    """Per row, the positions holding it, in ``order`` (default: ascending)."""
    positions = np.arange(len(row)) if order is None else np.asarray(order)
    out: list[list[int]] = [[] for _ in range(n_rows)]
    for k, r in zip(positions.tolist(), np.asarray(row)[positions].tolist()):
        out[r].append(k)
    return out


@dataclass
class _Signals:
    """Every row's signals and their points (``AccountModel.explain_arrays``) as plain
    lists, with the member facts their words read."""

    base_points: list[float]  # per row, before rounding
    signal: list[str]  # per part
    member: list[int]  # per part: the member it names, -1 when none
    points: list[float]  # per part, before rounding
    by_row: list[list[int]]  # per row, its parts in order
    lead_id: list[str]  # per member
    role: list[Any]
    days: list[float]
    engaged: list[bool]
    engaged_days: float
    recent_days: float
    roles: tuple[str, ...]

    @classmethod
    def of(cls, am: Any, members: dict[str, np.ndarray], n_rows: int, design: np.ndarray | None,
           log_odds: np.ndarray, scale: Any) -> _Signals:
        """The signals of ``n_rows`` account rows scored ``log_odds`` (``design``: their
        learned features when the model reads them)."""
        base, parts = am.explain_arrays(members, n_rows, design, log_odds)
        days = members["days_since"]
        return cls(scale.unclipped(base).tolist(), parts["signal"].tolist(), parts["member"].tolist(),
                   (parts["logit"] * scale.points_per_logit).tolist(), _positions_by_row(parts["row"], n_rows),
                   members["lead_id"].tolist(), members["role"].tolist(), days.tolist(),
                   (days <= am.engaged_days).tolist(), am.engaged_days, am.recent_days, am.roles)

    def reasons(self, i: int, member_rows: list[int], states: list[str]) -> list[dict[str, Any]]:
        """Every signal of row ``i`` (members ``member_rows``, role states ``states``) with its
        points, largest first: together with the base points they are the account's score
        before clipping to 0-100 (a signal under 0.005 points is left out)."""
        engaged = sum(self.engaged[k] for k in member_rows)
        items: list[dict[str, Any]] = []
        leads: list[tuple[float, int]] = []
        for r in self.by_row[i]:
            signal, member, points = self.signal[r], self.member[r], self.points[r]
            if signal == "lead":
                leads.append((points, member))
                continue
            if signal.startswith("role:"):  # the role's coverage in words
                role = signal[5:]
                text = _coverage_text(role, states[self.roles.index(role)], self.engaged_days, self.recent_days)
            else:
                facts: dict[str, Any] = {"n_leads": len(member_rows), "engaged": engaged}
                if member >= 0:
                    facts.update(lead_id=self.lead_id[member], role=self.role[member], days_since=self.days[member])
                text = account_reason_text(signal, facts, self.engaged_days, self.recent_days)
            items.append({"signal": signal, "text": text, "points": points})
        leads.sort(key=lambda x: -abs(x[0]))
        for points, member in leads[:MAX_LEAD_REASONS]:
            items.append({"signal": "lead", "points": points, "text": account_reason_text(
                "lead", {"lead_id": self.lead_id[member], "role": self.role[member],
                         "days_since": self.days[member]}, self.engaged_days, self.recent_days)})
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
