"""The one feature definition: ``FeatureBuilder``.

``fit`` learns vocabularies from leads and activities (never from outcomes):
which unknown activity types and site sections are frequent enough to be
signals of their own, the levels of each categorical field, the types of extra
lead columns. ``transform`` computes the features of (lead, as-of time) pairs
seeing only what happened strictly before each as-of time. Training snapshots,
batch scoring of a folder and a single service request all call ``transform``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import FeatureConfig
from mqlscore.contract import CANONICAL_ACTIVITY_TYPES
from mqlscore.features import account as acct
from mqlscore.features import fit as fitf
from mqlscore.features import intent
from mqlscore.features.events import US_PER_DAY, SortedEvents, time_frame, to_us
from mqlscore.features.pages import UNCATEGORISED, categorise_details, categorise_path, first_segment, normalise_path
from mqlscore.features.registry import ColumnFacts, FeatureSpec, account_specs, fit_specs, intent_specs, safe_name

FIT_NUMERIC = ("log10_employees", "log10_beds", "log10_covered_lives", "employer_500_plus", "free_mail",
               "lead_age_days")
MISSING = "unknown"
_PAGE_MEMO = 20_000  # pages whose family a builder remembers
_MEMOS = ("_category_cache", "_intent_names_cache", "_page_family_memo")  # derived from the fitted state
OTHER = "other"


class NotFittedError(RuntimeError):
    """``transform`` was called before ``fit``."""


class FeatureBuilder:
    """Turns leads and activities into model features at given as-of times.

    Parameters are stored as given; everything learned ends in ``_``.
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config if config is not None else FeatureConfig()

    # ------------------------------------------------------------------ fit
    def fit(self, leads: pd.DataFrame, activities: pd.DataFrame) -> FeatureBuilder:
        """Learn vocabularies from leads and their activities (outcomes are never read).

        Without any activity there is nothing to learn intent from: the builder
        has no signal families, no intent features and, of the account features,
        only the colleagues in the CRM (``intent_learned`` is False); ``transform``
        ignores activities it is given later. Each numeric extra column keeps its
        quantiles over these leads, each categorical one its levels' own
        spelling, so reasons can say where a lead stands (``column_facts``)."""
        cfg = self.config
        self.families_ = self._learn_families(activities)
        facts = fitf.lead_facts(leads)
        self.categories_: dict[str, list[str]] = {
            name: self._levels(facts[name]) for name in fitf.CATEGORICAL_FIT
        }
        self.extras_: dict[str, str] = {}
        self.extra_quantiles_: dict[str, dict[float, float]] = {}
        self.extra_labels_: dict[str, dict[str, str]] = {}
        for col in fitf.extra_columns(leads, cfg.exclude_columns):
            kind = fitf.numeric_or_text(leads[col])
            self.extras_[col] = kind
            if kind == "categorical":
                levels = self._levels(fitf.as_text(leads[col]))
                self.categories_[f"extra:{col}"] = levels
                self.extra_labels_[col] = fitf.level_labels(leads[col], levels)
            else:
                self.extra_quantiles_[col] = fitf.quantiles(fitf.as_number(leads[col]))
        self.notes_ = self._setting_notes(leads)
        for note in self.notes_:
            warnings.warn(note, UserWarning, stacklevel=2)
        self.specs_ = self._build_specs()
        self.feature_names_ = [s.name for s in self.specs_]
        return self

    # ------------------------------------------------------ fit by summary
    def fit_summary(self, leads: pd.DataFrame, activities: pd.DataFrame, *, rows: np.ndarray | None = None,
                    kinds: dict[str, str] | None = None) -> pd.DataFrame:
        """What :meth:`fit` learns from, as counts that add up over any split of the leads
        and activities into parts (:data:`SUMMARY_COLUMNS`; merge the parts'
        summaries with :func:`merge_fit_summaries`, then :meth:`fit_from_summary`).

        ``rows`` numbers the leads in the order :meth:`fit` would see all of them
        (default: their positions); it keeps, per value, its first row, which
        decides ties among equally frequent levels. Extra columns are described by
        their kind's evidence; their values only for the columns in ``kinds`` (a
        first pass finds the kinds: :meth:`summary_kinds`). Outcomes are never read."""
        cfg = self.config
        rows = np.arange(len(leads), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        parts = [_summary("activities", "", [None], [len(activities)])]
        if len(activities):
            types = activities["activity_type"].value_counts()
            parts.append(_summary("activity_type", "", types.index, types.to_numpy()))
            sections = self._section_counts(activities)
            parts.append(_summary("page_section", "", sections.index, sections.to_numpy()))
        facts = fitf.lead_facts(leads)
        for name in fitf.CATEGORICAL_FIT:
            parts.append(_first_counts("fact", name, facts[name], rows))
        for col in fitf.extra_columns(leads, cfg.exclude_columns):
            given = leads[col].dropna()
            if len(leads):  # the dtype of no rows says nothing about the column's
                numeric = pd.api.types.is_bool_dtype(given) or pd.api.types.is_numeric_dtype(given)
                parsed = pd.to_numeric(given.astype(str).str.strip(), errors="coerce").notna()
                parts.append(_summary("extra_kind", col, ["given", "parsed", "other_dtype"],
                                      [len(given), int(parsed.sum()), int(not numeric)]))
            kind = (kinds or {}).get(col)
            if kind == "categorical":
                text = fitf.as_text(leads[col])
                parts.append(_first_counts("extra_level", col, text.to_numpy(), rows))
                pairs = pd.DataFrame({"level": text.to_numpy(), "raw": fitf.stripped_text(leads[col])}).dropna()
                pairs = pairs.value_counts(["level", "raw"]).reset_index(name="count")
                parts.append(_summary("extra_label", col, pairs["level"], pairs["count"], labels=pairs["raw"]))
            elif kind == "numeric":
                numbers = pd.Series(fitf.as_number(leads[col])).value_counts()
                parts.append(_summary("extra_number", col, [None] * len(numbers), numbers.to_numpy(),
                                      numbers=numbers.index.to_numpy(np.float64)))
        return merge_fit_summaries(parts)

    def summary_kinds(self, summary: pd.DataFrame, columns: list[str]) -> dict[str, str]:
        """The kind (``numeric`` or ``categorical``) of each extra column of leads with
        ``columns``, from a merged :meth:`fit_summary`: :func:`fit.numeric_or_text`'s rule
        (a numeric column, or (almost) every given value reads as a number)."""
        stats = summary[summary["part"] == "extra_kind"]
        kinds: dict[str, str] = {}
        for col in fitf.extra_columns(pd.DataFrame(columns=columns), self.config.exclude_columns):
            mine = stats[stats["key"] == col]
            counts = dict(zip(mine["value"], mine["count"], strict=True))
            given, parsed = int(counts.get("given", 0)), int(counts.get("parsed", 0))
            if not given:
                kinds[col] = "categorical"
            elif not counts.get("other_dtype", 0):
                kinds[col] = "numeric"
            else:
                kinds[col] = "numeric" if parsed / given >= 0.98 else "categorical"
        return kinds

    def fit_from_summary(self, summary: pd.DataFrame, columns: list[str]) -> FeatureBuilder:
        """Fit from a merged :meth:`fit_summary` of leads with ``columns`` (in order) and
        their activities, with the extra columns' values summarised for their kinds:
        the builder :meth:`fit` would give on all of those leads and activities at once
        (the same vocabularies, levels, kinds, quantiles and level spellings)."""

        def part(name: str, key: str = "") -> pd.DataFrame:
            return summary[(summary["part"] == name) & (summary["key"] == key)]

        def multiset(frame: pd.DataFrame, column: str = "value") -> np.ndarray:
            # every value as often as it was counted, in order of first appearance: what
            # value_counts then sees, ties included, is what it sees in the whole table
            frame = frame.sort_values("first", kind="stable")
            return np.repeat(frame[column].to_numpy(dtype=object), frame["count"].to_numpy(np.int64))

        if int(part("activities")["count"].sum()):
            types = part("activity_type")
            sections = part("page_section")
            self.families_ = self._families_from_counts(dict(zip(types["value"], types["count"], strict=True)),
                                                        dict(zip(sections["value"], sections["count"], strict=True)))
        else:
            self.families_ = []
        self.categories_ = {name: self._levels(multiset(part("fact", name))) for name in fitf.CATEGORICAL_FIT}
        self.extras_ = {}
        self.extra_quantiles_ = {}
        self.extra_labels_ = {}
        for col, kind in self.summary_kinds(summary, columns).items():
            self.extras_[col] = kind
            if kind == "categorical":
                levels = self._levels(multiset(part("extra_level", col)))
                self.categories_[f"extra:{col}"] = levels
                labels = part("extra_label", col)
                labels = labels[labels["value"].isin(levels)].assign(first=0)
                self.extra_labels_[col] = fitf.level_labels(pd.Series(multiset(labels, "label"), dtype=object),
                                                            levels)
            else:
                numbers = part("extra_number", col)
                self.extra_quantiles_[col] = fitf.quantiles(
                    np.repeat(numbers["number"].to_numpy(np.float64), numbers["count"].to_numpy(np.int64)))
        self.notes_ = self._setting_notes(pd.DataFrame(columns=columns))
        for note in self.notes_:
            warnings.warn(note, UserWarning, stacklevel=2)
        self.specs_ = self._build_specs()
        self.feature_names_ = [s.name for s in self.specs_]
        return self

    @property
    def intent_learned(self) -> bool:
        """Whether the builder saw activities when fitted (else it has no intent
        features from activities: "no activity data, intent not learned")."""
        return bool(self.families_)

    def column_facts(self) -> dict[str, ColumnFacts]:
        """Per extra column's business signal (``extra:<column>``), what the fitted
        leads say about it (quantiles, the levels' spelling): the context of its
        reasons. Empty facts for a builder saved before they were kept."""
        return {f"extra:{col}": ColumnFacts(self.extra_quantiles_.get(col, {}), self.extra_labels_.get(col, {}))
                for col in self.extras_}

    def intent_columns(self) -> list[str]:
        """The extra columns that ``features.intent_columns`` marks as engagement (intent) signals."""
        keys = {fitf.column_key(name) for name in self.config.intent_columns}
        return [col for col in self.extras_ if fitf.column_key(col) in keys]

    def _setting_notes(self, leads: pd.DataFrame) -> list[str]:
        """``features.intent_columns`` names that mark no extra column, in words."""
        return fitf.unmatched_setting_notes(
            "features.intent_columns", self.config.intent_columns, list(self.extras_), list(leads.columns),
            "a column that is not an extra feature (a column of the contract, personal data or excluded)")

    def _learn_families(self, activities: pd.DataFrame) -> list[str]:
        if not len(activities):
            # No activity data: no family, not even the default ones, so no intent
            # feature is invented that every lead would hold at zero.
            return []
        types = activities["activity_type"].value_counts()
        return self._families_from_counts(dict(types.items()), dict(self._section_counts(activities).items()))

    def _section_counts(self, activities: pd.DataFrame) -> pd.Series:
        """Page views per site section, among those no page rule categorises."""
        pages = (activities.loc[activities["activity_type"] == "page_view", "detail"]
                 if len(activities) and "detail" in activities else None)  # detail is optional
        if pages is None or not len(pages):
            return pd.Series(dtype="int64")
        parsed = categorise_details(pages, self.config.page_rules)
        return parsed.loc[parsed["category"] == UNCATEGORISED, "segment"].value_counts()

    def _families_from_counts(self, types: dict[str, int], sections: dict[str, int]) -> list[str]:
        """The signal families, given activities per type and uncategorised page views per
        site section (both orders are irrelevant: what is frequent enough is sorted)."""
        cfg = self.config
        families = [f"act:{t}" for t in CANONICAL_ACTIVITY_TYPES if t != "page_view"]
        families += [f"page:{category}" for category, _ in cfg.page_rules]
        unknown = [t for t, n in types.items() if t not in CANONICAL_ACTIVITY_TYPES and n >= cfg.min_category_count]
        families += [f"act:{t}" for t in sorted(unknown)]
        families += [f"page:section:{s}" for s, n in sorted(sections.items()) if n >= cfg.min_category_count]
        # One family per feature name: a learned family named like a fixed one (an
        # activity type called "other") or like another spelling ("G2-Intent" next to
        # "g2_intent") is dropped, and its events fall into act:other / page:other.
        fallback = ["page:other", "act:other"]
        taken = {safe_name(f) for f in fallback}
        unique: list[str] = []
        for family in families:
            if safe_name(family) not in taken:
                taken.add(safe_name(family))
                unique.append(family)
        return unique + fallback

    def _levels(self, values: pd.Series) -> list[str]:
        counts = pd.Series(values).dropna().astype(str).value_counts()
        frequent = counts[counts >= self.config.min_category_count].index.tolist()
        levels = [v for v in frequent if v not in (MISSING, OTHER)][: self.config.max_categories - 2]
        return sorted(levels) + [OTHER, MISSING]

    def _build_specs(self) -> list[FeatureSpec]:
        # Every fit ends here: what was remembered from an earlier fit must go.
        for memo in _MEMOS:
            self.__dict__.pop(memo, None)
        cfg = self.config
        return (
            fit_specs(list(fitf.CATEGORICAL_FIT), list(FIT_NUMERIC), self.extras_, set(self.intent_columns()))
            + intent_specs(self.families_, cfg.half_lives_days, cfg.windows_days)
            + account_specs(acct.COMMITTEE_ROLES, cfg.committee_window_days, cfg.account_half_life_days,
                            activities=self.intent_learned)
        )

    # ------------------------------------------------------------- transform
    def transform(self, leads: pd.DataFrame, activities: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
        """Features for each row of ``snapshots`` (columns ``lead_id``, ``as_of``),
        seeing only activities strictly before its ``as_of``. The result has the
        snapshots' index and exactly ``feature_names_`` as columns."""
        if not hasattr(self, "specs_"):
            raise NotFittedError("FeatureBuilder.transform called before fit")
        cfg = self.config
        leads = leads.reset_index(drop=True)
        lead_code = pd.Index(leads["lead_id"].astype(str))
        if not lead_code.is_unique:
            raise ValueError("leads: lead_id must be unique")
        snap_lead = lead_code.get_indexer(snapshots["lead_id"].astype(str))
        if (snap_lead < 0).any():
            missing = snapshots["lead_id"][snap_lead < 0].iloc[0]
            raise ValueError(f"snapshots: lead_id {missing!r} is not among the leads")
        snap_us = to_us(snapshots["as_of"])
        created_us = to_us(leads["created_at"])
        account = self._account_codes(leads)

        acts = activities[activities["lead_id"].astype(str).isin(lead_code)] if len(activities) else activities
        ev_lead = lead_code.get_indexer(acts["lead_id"].astype(str)) if len(acts) else np.empty(0, np.int64)
        ev_us = to_us(acts["occurred_at"]) if len(acts) else np.empty(0, np.int64)
        ev_family = self.family_codes(acts)
        if (ev_family < 0).any():  # no family to count them in: fitted without activities
            known = ev_family >= 0
            ev_lead, ev_us, ev_family = ev_lead[known], ev_us[known], ev_family[known]
        n_entities = max(len(leads), int(account.max(initial=-1) + 1) * len(acct.COMMITTEE_ROLES)) + 2
        base_us, span = time_frame(ev_us, snap_us, created_us, n_entities=n_entities)
        lead_events = SortedEvents.build(ev_lead, ev_us, ev_family, base_us, span)

        facts = fitf.lead_facts(leads)
        numeric = {**self._intent_block(lead_events, len(leads), snap_lead, snap_us),
                   **self._account_block(facts, account, lead_events, created_us, snap_lead, snap_us, base_us, span)}
        blocks = [*self._fit_block(leads, facts, snap_lead, snap_us, created_us), _frame_of(numeric, len(snap_us))]
        out = pd.concat(blocks, axis=1)
        out.index = snapshots.index
        # The blocks come in the registry's order; selecting columns would copy them all.
        if list(out.columns) != self.feature_names_:
            raise RuntimeError("feature blocks out of step with the feature registry")
        return out

    def family_codes(self, activities: pd.DataFrame) -> np.ndarray:
        """The signal family of each activity, as an index into ``families_``; -1
        for every activity when the builder has no families (fitted without
        activities), which ``transform`` ignores."""
        if not len(activities):
            return np.empty(0, np.int64)
        if not self.families_:
            return np.full(len(activities), -1, np.int64)
        index = {f: i for i, f in enumerate(self.families_)}
        act_other, page_view = index["act:other"], -1
        types = np.asarray(activities["activity_type"], dtype=object)
        type_codes, type_values = pd.factorize(types, use_na_sentinel=True)
        by_type = [page_view if str(t) == "page_view" else index.get(f"act:{t}", act_other) for t in type_values]
        family = np.array([*by_type, act_other], np.int64)[type_codes]
        pages = family == page_view
        if pages.any():
            details = (np.asarray(activities["detail"], dtype=object)[pages] if "detail" in activities
                       else np.full(int(pages.sum()), None, dtype=object))  # detail is optional
            detail_codes, detail_values = pd.factorize(details, use_na_sentinel=True)
            by_detail = [self._page_family_of(d, index) for d in detail_values] + [self._page_family_of(None, index)]
            family[pages] = np.array(by_detail, np.int64)[detail_codes]
        return family

    def _page_family_of(self, detail: object, index: dict[str, int]) -> int:
        """:meth:`_page_family`, remembered per page for this builder (up to
        ``_PAGE_MEMO`` pages): a site has few pages, and each is parsed by rules."""
        memo = self.__dict__.setdefault("_page_family_memo", {})
        if not (detail is None or isinstance(detail, str)):
            return self._page_family(detail, index)
        family = memo.get(detail)
        if family is None:
            family = self._page_family(detail, index)
            if len(memo) < _PAGE_MEMO:
                memo[detail] = family
        return family

    def _page_family(self, detail: object, index: dict[str, int]) -> int:
        """The family of one page view: its category, else its site section, else ``page:other``."""
        path = normalise_path(detail)
        category = categorise_path(path, self.config.page_rules)
        name = f"page:{category}" if category != UNCATEGORISED else f"page:section:{first_segment(path)}"
        return index.get(name, index["page:other"])

    @staticmethod
    def _account_codes(leads: pd.DataFrame) -> np.ndarray:
        if "account_id" not in leads:
            return np.full(len(leads), -1, np.int64)
        codes, _ = pd.factorize(fitf.stripped_text(leads["account_id"]), use_na_sentinel=True)
        return codes.astype(np.int64)

    def _categorical(self, name: str, values: pd.Series | np.ndarray) -> pd.Categorical:
        """Values as the learned levels of ``name``: unseen ones as ``other``, missing as ``unknown``."""
        dtype, code_of = self._category_codes(name)
        other, missing = code_of[OTHER], code_of[MISSING]
        array = np.asarray(values, dtype=object)
        codes, uniques = pd.factorize(array, use_na_sentinel=True)
        table = np.array([code_of.get(str(v), other) for v in uniques] + [missing], np.int16)
        return pd.Categorical.from_codes(table[codes], dtype=dtype)

    def _category_codes(self, name: str) -> tuple[pd.CategoricalDtype, dict[str, int]]:
        # Built once per builder: a service request pays only for a dict look-up per value.
        cache = self.__dict__.setdefault("_category_cache", {})
        if name not in cache:
            levels = self.categories_[name]
            cache[name] = (pd.CategoricalDtype(levels), {level: i for i, level in enumerate(levels)})
        return cache[name]

    def _fit_block(self, leads: pd.DataFrame, facts: dict[str, np.ndarray], snap_lead: np.ndarray, snap_us: np.ndarray,
                   created_us: np.ndarray) -> list[pd.DataFrame]:
        cols: dict[str, Any] = {}
        for name in fitf.CATEGORICAL_FIT:
            cols[f"fit__{name}"] = self._categorical(name, facts[name][snap_lead])
        for name in FIT_NUMERIC:
            if name == "lead_age_days":
                cols["fit__lead_age_days"] = ((snap_us - created_us[snap_lead]) / US_PER_DAY).astype(np.float32)
            else:
                cols[f"fit__{name}"] = np.asarray(facts[name], float)[snap_lead].astype(np.float32)
        for col, kind in self.extras_.items():
            raw = leads[col] if col in leads else pd.Series(None, index=leads.index, dtype=object)
            if kind == "numeric":
                cols[f"extra__{safe_name(col)}"] = fitf.as_number(raw)[snap_lead].astype(np.float32)
            else:
                cols[f"extra__{safe_name(col)}"] = self._categorical(f"extra:{col}",
                                                                     fitf.as_text(raw).to_numpy()[snap_lead])
        return _runs_of(cols, len(snap_lead))

    def _intent_block(self, events: SortedEvents, n_leads: int, snap_lead: np.ndarray,
                      snap_us: np.ndarray) -> dict[str, np.ndarray]:
        if not self.families_:
            return {}  # intent not learned: no intent features
        cfg = self.config
        measures = intent.intent_measures(cfg.half_lives_days, cfg.windows_days)
        cube = intent.family_intent(events, len(self.families_), snap_lead, snap_us, cfg.half_lives_days,
                                    cfg.windows_days)
        names = self._intent_names(measures)
        families = dict(zip(names, cube.reshape(len(snap_us), len(names)).T))
        since = cube[:, :, -1]
        with np.errstate(all="ignore"):
            any_since = np.where(np.isnan(since).all(axis=1), np.nan, np.nanmin(np.nan_to_num(since, nan=np.inf),
                                                                               axis=1))
        columns: dict[str, np.ndarray] = {"intent__any__days_since": any_since.astype(np.float32)}
        for j, w in enumerate(cfg.windows_days):
            columns[f"intent__any__count_{w}d"] = cube[:, :, len(cfg.half_lives_days) + j].sum(axis=1)
        family_index = {f: i for i, f in enumerate(self.families_)}
        milestones = intent.milestone_times(events, n_leads, family_index)
        columns["intent__evidence_stage"] = intent.evidence_stage(milestones, snap_lead, snap_us)
        return {**families, **columns}

    def _intent_names(self, measures: list[str]) -> list[str]:
        # Worked out once per builder: a service request scores one row, and spelling these
        # names cost more than computing the row.
        cache = self.__dict__.setdefault("_intent_names_cache", {})
        key = tuple(measures)
        if key not in cache:
            cache[key] = [f"intent__{safe_name(family)}__{m}" for family in self.families_ for m in measures]
        return cache[key]

    def _account_block(self, facts: dict[str, np.ndarray], account: np.ndarray, lead_events: SortedEvents,
                       created_us: np.ndarray, snap_lead: np.ndarray, snap_us: np.ndarray, base_us: int,
                       span: int) -> dict[str, np.ndarray]:
        cfg = self.config
        roles = acct.COMMITTEE_ROLES
        role_of = {r: i for i, r in enumerate(roles)}
        lead_role = np.array([role_of.get(r, -1) for r in facts["committee_role"]], dtype=np.int64)
        ev_acc = account[lead_events.entity]
        ev_role = lead_role[lead_events.entity]
        with_role = (ev_acc >= 0) & (ev_role >= 0)
        role_events = SortedEvents.build(ev_acc[with_role] * len(roles) + ev_role[with_role],
                                         lead_events.us[with_role], None, base_us, span)
        snap_account = account[snap_lead]
        has_acc = account >= 0
        members = SortedEvents.build(account[has_acc], created_us[has_acc], np.flatnonzero(has_acc), base_us, span)
        committee = acct.committee_activity(role_events, lead_events, snap_lead, snap_account, lead_role, snap_us,
                                            cfg.committee_window_days, members=members, lead_created_us=created_us)
        engaged, known = acct.engaged_and_known_leads(members, lead_events, created_us, snap_lead, snap_account,
                                                      snap_us, cfg.committee_window_days)
        high = np.isin(np.array(self.families_, dtype=object)[lead_events.payload], acct.HIGH_INTENT_FAMILIES) \
            if len(lead_events) else np.zeros(0, bool)
        keep = high & (ev_acc >= 0)
        account_events = SortedEvents.build(ev_acc[keep], lead_events.us[keep], lead_events.entity[keep], base_us,
                                            span)
        acc_intent = acct.account_intent(account_events, snap_lead, snap_account, snap_us,
                                         cfg.account_half_life_days, lead_created_us=created_us)
        columns: dict[str, np.ndarray] = {
            "account__committee_roles_active": np.where(np.isnan(committee[:, 0]), np.nan, committee.sum(axis=1)),
        }
        for i, role in enumerate(roles):
            columns[f"account__committee_{role}"] = committee[:, i]
        columns["account__engaged_leads"] = engaged
        columns["account__known_leads"] = known
        columns[f"account__intent_decay_{cfg.account_half_life_days:g}d"] = acc_intent
        if not self.intent_learned:  # no activity data: only the colleagues in the CRM say anything
            columns = {"account__known_leads": known}
        return {k: np.asarray(v, np.float32) for k, v in columns.items()}

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted builder (JSON-ready, no personal data)."""
        if not hasattr(self, "specs_"):
            raise NotFittedError("FeatureBuilder.to_dict called before fit")
        return {
            "config": self.config.model_dump(mode="json"),
            "families": self.families_,
            "categories": self.categories_,
            "extras": self.extras_,
            "extra_quantiles": {col: {str(level): value for level, value in q.items()}
                                for col, q in self.extra_quantiles_.items()},
            "extra_labels": self.extra_labels_,
            "features": [s.to_dict() for s in self.specs_],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`to_dict`'s output."""
        builder = cls(FeatureConfig.model_validate(data["config"]))
        builder.families_ = list(data["families"])
        builder.categories_ = {k: list(v) for k, v in data["categories"].items()}
        builder.extras_ = dict(data["extras"])
        # Kept since issue 12; a definition saved before has none and explains without context.
        builder.extra_quantiles_ = {col: {float(level): float(value) for level, value in q.items()}
                                    for col, q in data.get("extra_quantiles", {}).items()}
        builder.extra_labels_ = {col: dict(labels) for col, labels in data.get("extra_labels", {}).items()}
        builder.notes_ = []
        builder.specs_ = builder._build_specs()
        builder.feature_names_ = [s.name for s in builder.specs_]
        if builder.feature_names_ != [f["name"] for f in data["features"]]:
            raise ValueError("feature definition does not match its saved feature list")
        return builder


def _frame_of(columns: dict[str, Any], rows: int) -> pd.DataFrame:
    """Columns as a frame; columns of one NumPy dtype as one 2-D block (a frame made column by
    column costs more than computing the one row of a service request)."""
    dtypes = {np.asarray(v).dtype if isinstance(v, np.ndarray) else None for v in columns.values()}
    if len(dtypes) == 1 and None not in dtypes and columns:
        block = np.empty((rows, len(columns)), dtype=dtypes.pop())
        for j, values in enumerate(columns.values()):
            block[:, j] = values
        return pd.DataFrame(block, columns=list(columns), copy=False)
    return pd.DataFrame(columns, index=pd.RangeIndex(rows))


def _runs_of(columns: dict[str, Any], rows: int) -> list[pd.DataFrame]:
    """Columns as frames in their order, one per run of NumPy columns (:func:`_frame_of`) or of
    other columns (categoricals)."""
    runs: list[dict[str, Any]] = []
    kind = None
    for name, values in columns.items():
        this = isinstance(values, np.ndarray)
        if not runs or this != kind:
            runs.append({})
            kind = this
        runs[-1][name] = values
    return [_frame_of(run, rows) for run in runs]


# The columns of a fit summary (FeatureBuilder.fit_summary): what is counted (part, key),
# the value (text in value, the raw spelling of a level in label, a number in number),
# how often it occurs and the first row it occurs in (-1 when order does not matter).
SUMMARY_COLUMNS = ("part", "key", "value", "label", "number", "count", "first")
_SUMMARY_KEYS = ["part", "key", "value", "label", "number"]


def _summary(part: str, key: str, values: Any, counts: Any, *, labels: Any = None, numbers: Any = None,
             first: Any = None) -> pd.DataFrame:
    n = len(counts)
    return pd.DataFrame({
        "part": pd.Series([part] * n, dtype=object), "key": pd.Series([key] * n, dtype=object),
        "value": pd.Series(list(values), dtype=object),
        "label": pd.Series([None] * n if labels is None else list(labels), dtype=object),
        "number": np.full(n, np.nan) if numbers is None else np.asarray(numbers, np.float64),
        "count": np.asarray(counts, np.int64),
        "first": np.full(n, -1, np.int64) if first is None else np.asarray(first, np.int64),
    })


def _first_counts(part: str, key: str, values: Any, rows: np.ndarray) -> pd.DataFrame:
    """Each given value's count and first row (values as text, as ``_levels`` reads them)."""
    series = pd.Series(np.asarray(values, dtype=object), index=rows).dropna().astype(str)
    grouped = pd.DataFrame({"value": series.to_numpy(dtype=object), "row": series.index.to_numpy(np.int64)}
                           ).groupby("value", sort=False)["row"].agg(["size", "min"])
    return _summary(part, key, grouped.index, grouped["size"].to_numpy(), first=grouped["min"].to_numpy())


def merge_fit_summaries(summaries: list[pd.DataFrame] | tuple[pd.DataFrame, ...]) -> pd.DataFrame:
    """Summaries of parts of the data (:meth:`FeatureBuilder.fit_summary`) as one: counts
    added, first rows the earliest."""
    frames = [s for s in summaries if len(s)]
    if not frames:
        return _summary("activities", "", [], [])
    merged = pd.concat(frames, ignore_index=True).groupby(_SUMMARY_KEYS, dropna=False, sort=False).agg(
        count=("count", "sum"), first=("first", "min")).reset_index()
    return merged[list(SUMMARY_COLUMNS)]
