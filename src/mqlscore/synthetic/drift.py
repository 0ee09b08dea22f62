"""Changes of the synthetic world from a date on (drift), and their record.

A change (``GeneratorConfig.changes``, ``mqlscore generate --change``) is one of

* ``channel_volume``: a lead source's inflow of new leads multiplied by a factor
  from the date on (extra leads of that source, or some of its leads never
  arriving);
* ``signal_weight``: a signal's weight in the true SQL hazard multiplied by a
  factor on every day from the date on (0: the signal stops predicting);
* ``org_fit``: a shift added to the true log-hazard of every lead of an
  organisation type on every day from the date on.

Several changes compose: factors multiply, shifts add. Nothing before the
date changes: with the same seed, the export before the first change is the
export of the world without changes, row for row (``generate.py`` runs the
unchanged world to the first change, then both on; see
``docs/synthetic-data.md``).

The record of what was changed, and of every export written, is
``changes.json`` in each truth folder; ``read_changes`` reads it back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import (ChannelVolumeChange, GeneratorConfig, OrgFitChange, SignalWeightChange,
                             WorldChange)
from mqlscore.synthetic import process, vocab, world

CHANGES_FILE = "changes.json"
CHANGES_FORMAT = "mqlscore-synthetic-changes/1"
EARLIER_DIR = "earlier"


def check_changes(config: GeneratorConfig) -> None:
    """Raise ValueError when a change names something the generator does not have,
    listing what it has (lead sources and org types are checked by the config itself)."""
    for change in config.changes:
        if isinstance(change, SignalWeightChange) and change.signal not in process.SIG:
            raise ValueError(f"change {change.spec()}: unknown signal {change.signal!r}; the generator's signals "
                             f"are: {', '.join(process.SIGNAL_NAMES)}")
        if isinstance(change, ChannelVolumeChange) and change.channel not in world.SOURCE_MIX:
            raise ValueError(f"change {change.spec()}: unknown channel {change.channel!r}; the generator's lead "
                             f"sources are: {', '.join(world.SOURCE_MIX)}")
        if isinstance(change, OrgFitChange) and change.org_type not in vocab.ORG_TYPE_MIX:
            raise ValueError(f"change {change.spec()}: unknown org type {change.org_type!r}; the generator's org "
                             f"types are: {', '.join(vocab.ORG_TYPE_MIX)}")


def _midnight(when: Any) -> pd.Timestamp:
    """A date (00:00 UTC) or timestamp as a UTC Timestamp."""
    ts = pd.Timestamp(when)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def day_of(config: GeneratorConfig, when: Any) -> int:
    """Index of the simulated day that starts at ``when`` (a date: 00:00 UTC)."""
    return int((_midnight(when) - pd.Timestamp(config.history_start)).days)


@dataclass(frozen=True)
class Schedule:
    """The changes of a configuration with the simulated day each starts on, in date order
    (ties keep the configuration's order)."""

    changes: tuple[WorldChange, ...]
    days: tuple[int, ...]
    ids: tuple[int, ...]  # 1-based position in the configuration

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> Schedule:
        """The schedule of ``config.changes`` (empty without changes)."""
        order = sorted(range(len(config.changes)), key=lambda i: config.changes[i].at)
        return cls(changes=tuple(config.changes[i] for i in order),
                   days=tuple(day_of(config, config.changes[i].at) for i in order),
                   ids=tuple(i + 1 for i in order))

    @property
    def first_day(self) -> int | None:
        """The day of the first change; None without changes."""
        return self.days[0] if self.days else None

    def channels(self) -> list[str]:
        """Lead sources whose volume changes."""
        return sorted({c.channel for c in self.changes if isinstance(c, ChannelVolumeChange)})

    def channel_factors(self, channel: str, n_days: int) -> np.ndarray:
        """The factor on ``channel``'s inflow on each day (1 before its first change)."""
        factor = np.ones(n_days)
        for change, day in zip(self.changes, self.days):
            if isinstance(change, ChannelVolumeChange) and change.channel == channel:
                factor[day:] *= change.factor
        return factor

    def regimes(self, fit: np.ndarray, org_type: np.ndarray) -> process.Regimes | None:
        """The hazard's weights and fit per row from each signal or org-type change on
        (``org_type``: each row's organisation type); None when there is none."""
        starts = sorted({d for c, d in zip(self.changes, self.days)
                         if isinstance(c, (SignalWeightChange, OrgFitChange))})
        if not starts:
            return None
        base = np.asarray(process.ProcessParams().weights, dtype=np.float64)
        weights, fits = [], []
        for start in starts:
            w, shift = base.copy(), {}
            for change, day in zip(self.changes, self.days):
                if day > start:
                    break
                if isinstance(change, SignalWeightChange):
                    w[process.SIG[change.signal]] *= change.factor
                elif isinstance(change, OrgFitChange):
                    shift[change.org_type] = shift.get(change.org_type, 0.0) + change.shift
            weights.append(w.astype(np.float32))
            row_shift = pd.Series(org_type).map(shift).fillna(0.0).to_numpy(float)
            fits.append(fit + row_shift)
        return process.Regimes(starts=tuple(starts), weights=tuple(weights), fit=tuple(fits))


# --- channel volume ----------------------------------------------------------------


def thinned(leads: pd.DataFrame, schedule: Schedule, n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Which leads still arrive: a lead of a channel whose factor on its creation day is
    below 1 arrives with that probability (one uniform per lead, so the draw does not
    depend on which channels change)."""
    u = rng.random(len(leads))
    keep = np.ones(len(leads), dtype=bool)
    source = leads["lead_source"].to_numpy()
    created = leads["created_day"].to_numpy()
    for channel in schedule.channels():
        factor = schedule.channel_factors(channel, n_days)
        mine = source == channel
        keep &= ~mine | (u < np.minimum(factor[np.clip(created, 0, n_days - 1)], 1.0))
    return keep


def extra_arrivals(schedule: Schedule, conference_days: np.ndarray, first: int, last: int
                   ) -> list[tuple[str, np.ndarray]]:
    """Per changed channel, the extra leads each day of ``[first, last)`` brings, per unit of the
    baseline arrival rate (a factor f > 1 adds f - 1 times the channel's usual share)."""
    out = []
    n_days = len(conference_days)
    for channel in schedule.channels():
        factor = schedule.channel_factors(channel, n_days)[first:last]
        excess = np.maximum(factor - 1.0, 0.0) * world.source_share_by_day(channel, conference_days[first:last])
        if excess.sum() > 0:
            out.append((channel, excess))
    return out


# --- the record: changes.json -------------------------------------------------------


def iso_utc(when: Any) -> str:
    """A timestamp as ISO-8601 UTC with a Z (as in the truth files)."""
    return pd.Timestamp(when).isoformat().replace("+00:00", "Z")


def change_records(config: GeneratorConfig, population: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """One entry per change, in the configuration's order: what it is and what it touched."""
    schedule = Schedule.from_config(config)
    weights = {name: w for name, _, _, w, _, _ in process.SIGNALS}
    fit = dict(world.FIT_WEIGHTS["org_type"])
    level: dict[str, float] = {}
    per_day = config.n_leads / config.history_days
    share = {s: v / sum(world.SOURCE_MIX.values()) for s, v in world.SOURCE_MIX.items()}
    entries: dict[int, dict[str, Any]] = {}
    for change, day, ident in zip(schedule.changes, schedule.days, schedule.ids):
        entry: dict[str, Any] = {"id": ident, "kind": change.kind, "at": iso_utc(_midnight(change.at)), "day": day,
                                 "spec": change.spec()}
        if isinstance(change, ChannelVolumeChange):
            before = level.get(change.channel, 1.0)
            level[change.channel] = before * change.factor
            entry.update(channel=change.channel, factor=change.factor, touched={
                "column": "lead_source", "value": change.channel,
                "expected_leads_per_week_before": round(7 * per_day * share[change.channel] * before, 3),
                "expected_leads_per_week_after": round(7 * per_day * share[change.channel] * level[change.channel],
                                                       3),
            })
        elif isinstance(change, SignalWeightChange):
            name, typ, category, _, half_life, _ = process.SIGNALS[process.SIG[change.signal]]
            before = weights[name]
            weights[name] = before * change.factor
            entry.update(signal=change.signal, factor=change.factor, touched={
                "activity_type": typ, "page_category": category, "weight_before": before,
                "weight_after": weights[name], "half_life_days": half_life,
            })
        else:
            before = fit[change.org_type]
            fit[change.org_type] = before + change.shift
            entry.update(org_type=change.org_type, shift=change.shift, touched={
                "column": "org_type", "value": change.org_type, "fit_weight_before": before,
                "fit_weight_after": round(fit[change.org_type], 10),
            })
        entries[ident] = entry
    out = [entries[i] for i in sorted(entries)]
    for entry in out:
        if entry["kind"] == "channel_volume":
            entry["touched"].update(population.get(entry["channel"], {}))
    return out


@dataclass(frozen=True)
class ExportRecord:
    """One export written by ``mqlscore generate`` (from ``changes.json``)."""

    role: str  # "main" or "earlier"
    as_of: pd.Timestamp  # the export time: nothing in the export is dated at or after it
    export: Path
    truth: Path
    changes_before: tuple[int, ...]  # ids of the changes dated before as_of (the export shows them)
    changes_in_horizon: tuple[int, ...]  # ids of the changes dated within the oracle's horizon after as_of


@dataclass(frozen=True)
class WorldChanges:
    """``changes.json`` read back: the changes (as written) and the exports, paths resolved."""

    changes: list[dict[str, Any]]
    exports: list[ExportRecord]
    document: dict[str, Any]

    def export_at(self, as_of: Any) -> ExportRecord:
        """The export whose as-of time is ``as_of`` (a date or timestamp; KeyError if none)."""
        want = _midnight(as_of)
        for record in self.exports:
            if record.as_of == want:
                return record
        there = ", ".join(iso_utc(r.as_of) for r in self.exports)
        raise KeyError(f"no export as of {iso_utc(want)}; there are: {there}")


def exports_document(config: GeneratorConfig, exports: list[tuple[str, pd.Timestamp, Path, Path]],
                     changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The content of ``changes.json``. ``exports`` are (role, as-of time, export folder, truth
    folder), the main export first. Paths are written relative (earlier exports to the main export,
    truth folders to the main truth folder) and the main export's only when it is not beside its
    truth folder as ``<out>-truth``: the same seed gives the same file wherever it is written."""
    horizon = pd.Timedelta(days=config.horizon_days)
    _, _, main_out, main_truth = exports[0]
    rows = []
    for role, as_of, out, truth in exports:
        rows.append({
            "role": role, "as_of": iso_utc(as_of), "export": _relative(out, main_out),
            "truth": _relative(truth, main_truth),
            "changes_before": [c["id"] for c in changes if pd.Timestamp(c["at"]) < as_of],
            "changes_in_horizon": [c["id"] for c in changes if as_of <= pd.Timestamp(c["at"]) < as_of + horizon],
        })
    beside = Path(main_truth).resolve() == Path(main_out).resolve().with_name(Path(main_out).resolve().name + "-truth")
    return {
        "format": CHANGES_FORMAT,
        "description": "Changes of the synthetic world (drift) and the exports written; see docs/synthetic-data.md.",
        "seed": config.seed,
        "history_start": iso_utc(config.history_start),
        "export_at": iso_utc(config.export_at),
        "horizon_days": config.horizon_days,
        "changes": changes,
        "main_export": None if beside else _relative(main_out, main_truth),
        "exports": rows,
    }


def write_changes(truth_dir: Path, document: dict[str, Any], main_truth: Path, as_of: pd.Timestamp) -> Path:
    """Write ``changes.json`` into one truth folder (the main one or an earlier export's)."""
    doc = dict(document, this_export_as_of=iso_utc(as_of), main_truth=_relative(main_truth, truth_dir))
    path = Path(truth_dir) / CHANGES_FILE
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def _relative(path: Path | str, start: Path | str) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def read_changes(truth_dir: Path | str) -> WorldChanges:
    """Read ``changes.json`` from a truth folder written by ``mqlscore generate`` (the main
    export's or an earlier export's), its paths resolved."""
    truth_dir = Path(truth_dir)
    doc = json.loads((truth_dir / CHANGES_FILE).read_text(encoding="utf-8"))
    if doc.get("format") != CHANGES_FORMAT:
        raise ValueError(f"{truth_dir / CHANGES_FILE}: not a {CHANGES_FORMAT} document")
    main_truth = (truth_dir / doc["main_truth"]).resolve()
    main_out = (main_truth / doc["main_export"]).resolve() if doc["main_export"] is not None \
        else main_truth.with_name(main_truth.name.removesuffix("-truth"))
    exports = [ExportRecord(role=row["role"], as_of=pd.Timestamp(row["as_of"]),
                            export=(main_out / row["export"]).resolve(), truth=(main_truth / row["truth"]).resolve(),
                            changes_before=tuple(row["changes_before"]),
                            changes_in_horizon=tuple(row["changes_in_horizon"]))
               for row in doc["exports"]]
    return WorldChanges(changes=doc["changes"], exports=exports, document=doc)


def earlier_dirs(out: Path, truth_out: Path, when: Any) -> tuple[Path, Path]:
    """Where the export as of an earlier date goes: ``OUT/earlier/DATE`` and ``TRUTH/earlier/DATE``."""
    name = pd.Timestamp(when).strftime("%Y-%m-%d")
    return Path(out) / EARLIER_DIR / name, Path(truth_out) / EARLIER_DIR / name
