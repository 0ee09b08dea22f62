"""``monitor.json``, ``monitor.md`` and its plots, written from a :class:`MonitorResult`.

Only aggregates are written (counts, rates, intervals, PSI, the vocabulary's
levels); never a lead id, an email, a name or a title. The files of one
monitoring are renamed into place together (``contract.write_files_atomically``):
a reader sees the previous monitoring or this one, never a mix.

The report's first lines are the verdict and the MQL promise against what
happened: the figure marketers need when the promise no longer holds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mqlscore.contract import write_files_atomically
from mqlscore.monitoring.core import MonitorResult
from mqlscore.monitoring.intervals import Interval

JSON_FILE = "monitor.json"
MARKDOWN_FILE = "monitor.md"
PLOTS = ("performance.png", "calibration.png", "drift.png", "inflow.png")
DPI = 100
TOP_DRIFTS = 12


@dataclass
class MonitorFiles:
    """What :func:`write_report` wrote."""

    folder: Path
    json: Path
    markdown: Path
    pngs: list[Path]


def plain(value: Any) -> Any:
    """A value JSON can hold: NaN and infinities as None, numpy numbers as Python's."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def monitor_json(result: MonitorResult) -> str:
    """The content of ``monitor.json`` (strict JSON: no NaN)."""
    return json.dumps(plain(result.to_dict()), indent=2, allow_nan=False)


def write_report(result: MonitorResult, folder: Path) -> MonitorFiles:
    """Write ``monitor.json``, ``monitor.md`` and the plots into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    folder = Path(folder)
    writes: dict[Path, Callable[[Path], object]] = {}
    pngs = []
    for name, plot in (("performance.png", _plot_performance), ("calibration.png", _plot_calibration),
                       ("drift.png", _plot_drift), ("inflow.png", _plot_inflow)):
        figure = plot(result)
        if figure is not None:
            writes[folder / name] = _saver(figure)
            pngs.append(folder / name)
    text = monitor_json(result)
    writes[folder / JSON_FILE] = lambda p: p.write_text(text, encoding="utf-8")
    markdown = markdown_report(result, [p.name for p in pngs])
    writes[folder / MARKDOWN_FILE] = lambda p: p.write_text(markdown, encoding="utf-8")
    try:
        write_files_atomically(writes)
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
    return MonitorFiles(folder, folder / JSON_FILE, folder / MARKDOWN_FILE, pngs)


def _saver(figure: Any) -> Callable[[Path], object]:
    def save(path: Path) -> None:
        figure.tight_layout()
        figure.savefig(path, dpi=DPI, format="png")
    return save


# --------------------------------------------------------------------------- markdown


def _num(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _pct(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.{digits}f} %"


def _ci(i: Interval | None, pct: bool = False) -> str:
    if i is None or not math.isfinite(i.value):
        return "n/a"
    fmt = _pct if pct else _num
    if not i.defined:
        return fmt(i.value)
    return f"{fmt(i.value)} ({fmt(i.low)}-{fmt(i.high)})"


def _ci_dict(d: dict[str, Any] | None, pct: bool = False) -> str:
    if not d or d.get("value") is None:
        return "n/a"
    return _ci(Interval(d["value"], d["low"] if d["low"] is not None else math.nan,
                        d["high"] if d["high"] is not None else math.nan), pct)


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _sentence(text: str) -> str:
    text = _cell(text)
    return text if text.endswith(".") else text + "."


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(result: MonitorResult, pngs: list[str]) -> str:
    """``monitor.md``: the verdict and the MQL promise first, then the evidence."""
    r, w, cfg = result, result.windows, result.settings
    conf = f"{cfg['confidence']:.0%}"
    name = r.model.get("name") or "model"
    version = str(r.model.get("version") or "")
    label = f"v{version}" if version.isdigit() else "(unregistered)"
    lines = [
        f"# Monitoring of {_cell(name)} {_cell(label)}: **{r.verdict}**",
        "",
        f"**MQL promise.** {r.promise_line}",
        "",
        f"Export as of {w.export_as_of:%Y-%m-%d %H:%M} UTC; model trained on data as of {w.model_as_of:%Y-%m-%d %H:%M} "
        f"UTC ({_cell(r.model.get('kind'))}, {w.horizon_days}-day horizon, `{_cell(r.model.get('uri') or 'given')}`).",
        "",
        "## Verdict and reasons",
        "",
    ]
    judged = [x for x in r.reasons if x.level != "info"]
    if not judged:
        lines.append("Nothing calls for action: realised figures within their promise, no material drift.")
    lines += [f"- **{x.level}**: {_sentence(x.text)}" for x in judged]
    infos = [x for x in r.reasons if x.level == "info"]
    if infos:
        lines += ["", "Also noted:", ""] + [f"- {_sentence(x.text)}" for x in infos]
    lines += ["", "## Windows", "", _table(["window", "snapshots taken", "what it is"], [
        ["training", w.reference.text(), f"the model's validation period ({w.validation_days} days before its "
         f"last {w.horizon_days}), rebuilt from this export"],
        ["realised", w.realised.text() if w.realised is not None else "none yet",
         f"after the model's data, horizon completed by the export ({r.counts['snapshots_realised']:,} snapshots)"],
        ["recent", w.recent.text(), f"the last {cfg['recent_weeks']} weeks, for drift "
         f"({r.counts['snapshots_recent']:,} snapshots)"],
    ])]
    lines += ["", "## Realised performance", ""]
    promise, metrics = r.promise.get("threshold", {}), r.promise.get("validation_metrics", {})
    rows = []
    for label, key, promised, pct in (
            ("ROC-AUC", "roc_auc", metrics.get("roc_auc"), False),
            ("average precision", "average_precision", metrics.get("pr_auc"), False),
            ("log loss", "log_loss", metrics.get("log_loss"), False),
            ("SQL rate of MQL snapshots", "mql_sql_rate", promise.get("sql_rate"), True),
            ("share of SQL snapshots that were MQLs", "share_of_sqls", promise.get("share_of_sqls"), True),
            ("MQL leads per week", "mql_leads_per_week", promise.get("mqls_per_week"), False),
            ("SQL rate of snapshots", "sql_rate", metrics.get("base_rate"), True)):
        now = getattr(r.realised, key) if r.realised is not None else None
        then = getattr(r.training, key) if r.training is not None else None
        fmt = _pct if pct else _num
        rows.append([label, fmt(promised) if isinstance(promised, (int, float)) else "n/a", _ci(then, pct),
                     _ci(now, pct)])
    lines.append(f"Intervals: {conf}, resampling buying groups (an account's leads together). The training window "
                 "is scored by the model as registered (in-sample if it was refitted on it); the promise is the "
                 "model card's validation figure.")
    lines += ["", _table(["figure", "promised (validation)", "training window now", "realised"], rows)]
    if r.realised is not None:
        lines += ["", f"{r.realised.rows:,} realised snapshots of {r.realised.leads:,} leads, "
                  f"{r.realised.sqls:,} of them SQL within the horizon; mean predicted probability "
                  f"{_pct(r.realised.mean_predicted)}."
                  + ("" if r.judged else " Too few SQLs to judge: shown, not weighed.")]
    if r.by_period:
        lines += ["", f"### By {cfg['period']}", "", _table(
            ["period", "snapshots", "SQLs", "ROC-AUC", "SQL rate of MQLs", "share of SQLs caught", "log loss"],
            [[p["period"], f"{p['rows']:,}", f"{p['sqls']:,}", _ci_dict(p["roc_auc"]),
              _ci_dict(p["mql_sql_rate"], True), _ci_dict(p["share_of_sqls"], True), _ci_dict(p["log_loss"])]
             for p in r.by_period])]
    if r.calibration:
        lines += ["", "### Calibration by score band", "",
                  "Mean predicted probability against the realised SQL rate of the snapshots in each 10-point "
                  "band, then (training window) and now (realised window)."]
        bands: dict[str, dict[str, str]] = {}
        for which, frame in r.calibration.items():
            for row in frame.to_dict("records"):
                cell = (f"{_pct(row['mean_predicted'])} / {_pct(row['sql_rate'])} "
                        f"({_pct(row['sql_rate_low'])}-{_pct(row['sql_rate_high'])}), n={row['snapshots']:,}")
                bands.setdefault(row["band"], {})[which] = cell
        lines += ["", _table(["score band", "training: predicted / realised", "realised: predicted / realised"],
                             [[b, v.get("training", "-"), v.get("realised", "-")] for b, v in bands.items()])]
    lines += ["", "## Signals that predict differently", ""]
    if not r.signal_checks:
        lines.append("Not checked: it needs outcomes in both the training and the realised window.")
    else:
        lines.append(f"Observed SQLs over the model's expectation among the snapshots showing each signal (an "
                     f"intent signal done within {cfg['signal_active_days']} days; a fit field's level), relative "
                     f"to all snapshots of the window; `change` = realised / training, {cfg['signal_confidence']:.0%} "
                     f"interval. Flagged from a change of x{cfg['signal_factor']:g} (or 1/{cfg['signal_factor']:g}) "
                     f"with at least {cfg['min_signal_sql_leads']} SQL leads in the training window and as many realised or expected in the realised one.")
        shown = [c for c in r.signal_checks if c.status != "too few SQLs"][:15]
        lines += ["", _table(["signal", "training O/E", "realised O/E", "change (interval)", "SQL leads", "status"],
                             [[c.label, _num(c.ratio_then, 2), _num(c.ratio_now, 2),
                               f"{_num(c.change.value, 2)} ({_num(c.change.low, 2)}-{_num(c.change.high, 2)})",
                               f"{c.sql_leads_then:,} / {c.sql_leads_now:,}", c.status] for c in shown])]
        skipped = sum(c.status == "too few SQLs" for c in r.signal_checks)
        if skipped:
            lines += ["", f"{skipped} more signals or levels had too few SQL leads to judge (monitor.json lists them)."]
    lines += ["", "## Drift of the inputs and the score (no labels needed)", "",
              f"Population stability index between the training window and the last {cfg['recent_weeks']} weeks, "
              f"numeric features in {cfg['psi_bins']} quantile bins of the training window plus one for missing, "
              f"categories by level; a signal's PSI is its largest feature's. Watch from {cfg['psi_watch']:g}, "
              f"retrain from {cfg['psi_retrain']:g} when the signal's mean points moved by "
              f"{cfg['min_points_shift']:g} or more."]
    if r.score is not None:
        bin_, then, now = r.score.largest_move()
        lines += ["", f"Score: PSI {r.score.psi:.3f} (largest move: {bin_} from {_pct(then)} to {_pct(now)})."]
    if r.drifts:
        lines += ["", _table(["signal", "group", "PSI", "feature", "importance", "points shift", "level"],
                             [[f"{d.label} ({d.signal})", d.group, _num(d.psi), d.feature, _pct(d.importance),
                               f"{d.points_shift:+.2f}", d.level] for d in r.drifts[:TOP_DRIFTS]])]
    if r.inflow is not None:
        f = r.inflow
        lines += ["", "## New leads and activities per week", ""]
        rows = [[v.field, v.name, f"{v.per_week_then:.1f}", f"{v.per_week_now:.1f}", _ci(v.ratio),
                 v.since or "", v.level] for v in f.new_leads if v.level != "stable" or v.field == "all"]
        lines += [_table(["new leads of", "", "per week (training)", "per week (recent)", "ratio", "since",
                          "level"], rows)]
        lines += ["", "Mix of new leads: " + ", ".join(f"PSI {v:.3f} by {k}" for k, v in f.mix_psi.items()) + "."]
        lines += ["", f"Realised SQL rate of new leads within {w.horizon_days} days: {_ci(f.sql_rate_then, True)} of "
                  f"{f.sql_rate_leads[0]:,} created in the training window; {_ci(f.sql_rate_now, True)} of "
                  f"{f.sql_rate_leads[1]:,} created after the model's data (horizon completed)."]
        moved = [v for v in f.activities if v.level != "stable"]
        if moved:
            lines += ["", _table(["activities", "per week (training)", "per week (recent)", "ratio", "change",
                                  "level"],
                                 [[v.name, f"{v.per_week_then:.1f}", f"{v.per_week_now:.1f}", _ci(v.ratio),
                                   v.change or "volume", v.level] for v in moved])]
        else:
            lines += ["", "No activity type or page category appeared, vanished or changed its weekly volume by "
                      f"x{cfg['volume_factor']:g}."]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in pngs]
    lines += ["", "## Thresholds", "", _table(["setting", "value"], [[k, str(v)] for k, v in cfg.items()]),
              "", f"Files: `monitor.json` (everything above, machine-readable), `monitor.md`, "
              f"{', '.join(f'`{p}`' for p in pngs)}. Took {r.seconds.get('total', 0):.1f} s.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def _plot_performance(result: MonitorResult) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    periods = result.by_period
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    promise, metrics = result.promise.get("threshold", {}), result.promise.get("validation_metrics", {})
    for ax, key, promised, title, pct in (
            (axes[0], "roc_auc", metrics.get("roc_auc"), "ROC-AUC", False),
            (axes[1], "mql_sql_rate", promise.get("sql_rate"), "SQL rate of MQL snapshots", True)):
        if periods:
            x = np.arange(len(periods))
            values = np.array([p[key]["value"] if p[key]["value"] is not None else np.nan for p in periods], float)
            low = np.array([p[key]["low"] if p[key]["low"] is not None else np.nan for p in periods], float)
            high = np.array([p[key]["high"] if p[key]["high"] is not None else np.nan for p in periods], float)
            err = np.vstack([np.nan_to_num(values - low), np.nan_to_num(high - values)])
            ax.errorbar(x, values, yerr=err, marker="o", capsize=4, label="realised (interval)")
            ax.set_xticks(x, [p["period"] for p in periods], rotation=30)
        else:
            ax.text(0.5, 0.5, "no completed horizon yet", ha="center", va="center", transform=ax.transAxes)
        if isinstance(promised, (int, float)):
            ax.axhline(promised, color="grey", linestyle="--", label="promised (validation)")
        ax.set_title(title)
        if pct:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    fig.suptitle(f"Realised performance per {result.settings['period']} (snapshots after the model's data)")
    return fig


def _plot_calibration(result: MonitorResult) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    if not result.calibration:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    top = 0.01
    for which, color in (("training", "tab:blue"), ("realised", "tab:orange")):
        frame = result.calibration.get(which)
        if frame is None or frame.empty:
            continue
        err = np.vstack([np.nan_to_num(frame["sql_rate"] - frame["sql_rate_low"]),
                         np.nan_to_num(frame["sql_rate_high"] - frame["sql_rate"])])
        ax.errorbar(frame["mean_predicted"], frame["sql_rate"], yerr=err, marker="o", capsize=3, color=color,
                    label=f"{which} window")
        top = max(top, float(np.nanmax(frame[["mean_predicted", "sql_rate_high"]].to_numpy(float))))
    top = min(1.0, top * 1.08)
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Predicted probability of SQL (mean per 10-point score band)")
    ax.set_ylabel("Realised SQL rate")
    ax.set_title("Calibration then (training window) and now (realised)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return fig


def _plot_drift(result: MonitorResult) -> Any:
    import matplotlib.pyplot as plt

    drifts = result.drifts[:TOP_DRIFTS]
    if not drifts and result.score is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1.3, 1]})
    ax = axes[0]
    names = [f"{d.label[:34]}" for d in drifts][::-1]
    values = [d.psi for d in drifts][::-1]
    colors = [{"retrain": "tab:red", "watch": "tab:orange"}.get(d.level, "tab:grey") for d in drifts][::-1]
    ax.barh(names, values, color=colors)
    cfg = result.settings
    ax.axvline(cfg["psi_watch"], color="tab:orange", linestyle="--", label=f"watch {cfg['psi_watch']:g}")
    ax.axvline(cfg["psi_retrain"], color="tab:red", linestyle="--", label=f"retrain {cfg['psi_retrain']:g}")
    ax.set_xlabel("PSI, training window against the recent weeks")
    ax.set_title("Largest drifts of the model's signals")
    ax.legend(loc="lower right")
    ax = axes[1]
    biggest = next((d.detail for d in drifts if d.detail is not None), None)
    shown = result.score if result.score is not None else biggest
    if shown is not None:
        then, now = shown.shares()
        x = np.arange(len(shown.bins))
        ax.bar(x - 0.2, then, width=0.4, label="training window")
        ax.bar(x + 0.2, now, width=0.4, label="recent weeks")
        ax.set_xticks(x, [b[:14] for b in shown.bins], rotation=60, fontsize=7)
        ax.set_title(f"{shown.name}: PSI {shown.psi:.3f}")
        ax.set_ylabel("share of snapshots")
        ax.legend()
    return fig


def _plot_inflow(result: MonitorResult) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    if result.inflow is None or result.inflow.weekly.empty:
        return None
    weekly = result.inflow.weekly
    fig, ax = plt.subplots(figsize=(11, 4))
    x = pd.to_datetime(weekly["week_from"])
    ax.bar(x, weekly["new_leads"], width=6, color="tab:blue", alpha=0.6, label="new leads per week")
    ax.set_ylabel("new leads per week")
    w = result.windows
    ax.axvspan(w.reference.start.tz_localize(None), w.reference.end.tz_localize(None), color="tab:green", alpha=0.1,
               label="training window")
    ax.axvspan(w.recent.start.tz_localize(None), w.recent.end.tz_localize(None), color="tab:red", alpha=0.1,
               label="recent weeks")
    ax.axvline(w.model_as_of.tz_localize(None), color="black", linestyle=":", label="model's data ends")
    ax2 = ax.twinx()
    ax2.plot(x, weekly["sql_rate"], color="tab:orange", marker=".", label="SQL within the horizon")
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax2.set_ylabel("realised SQL rate of the week's new leads")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper left", fontsize=8)
    ax.set_title("New leads per week and their realised SQL rate")
    return fig
