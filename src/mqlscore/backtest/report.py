"""The backtest's files: ``backtest.csv`` (one row per origin), ``backtest.json``
(what was run, the summary and every origin) and ``backtest.png`` (ROC-AUC and
average precision per origin, the champion next to the hand-set baseline)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.backtest.run import BacktestResult
from mqlscore.contract import write_files_atomically

DPI = 110
FILES = ("backtest.csv", "backtest.json", "backtest.png")


def write_backtest(result: BacktestResult, folder: Path | str) -> list[Path]:
    """Write the three files into ``folder`` (created if needed); they replace the previous
    ones together, when all three are complete, or not at all."""
    folder = Path(folder)
    csv, js, png = (folder / name for name in FILES)
    table = result.table()
    document = json.dumps(result.to_dict(), indent=2) + "\n"
    write_files_atomically({
        csv: lambda tmp: table.to_csv(tmp, index=False),
        js: lambda tmp: Path(tmp).write_text(document, encoding="utf-8"),
        png: lambda tmp: plot_backtest(result, tmp),
    })
    return [csv, js, png]


def plot_backtest(result: BacktestResult, path: Path | str) -> Path:
    """ROC-AUC (left) and average precision (right) on the leads open at each origin:
    the champion, the hand-set baseline and, for AP, the SQL rate (a random order's AP).
    Skipped origins leave a gap, marked on the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.dates import DateFormatter

    table = result.table()
    when = pd.to_datetime(table["origin"], utc=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True)
    panels = (("roc_auc", "ROC-AUC", 0.5, "random order (0.5)"),
              ("average_precision", "Average precision", None, "SQL rate (random order)"))
    for ax, (key, title, chance, chance_label) in zip(axes, panels):
        ax.plot(when, table[key], marker="o", color="tab:blue", label="champion (as trained at the origin)")
        ax.plot(when, table[f"baseline_{key}"], marker="s", color="tab:orange",
                label="hand-set 25 %/quarter baseline")
        if chance is not None:
            ax.axhline(chance, linestyle="--", color="grey", label=chance_label)
        else:
            ax.plot(when, table["sql_rate"], linestyle="--", color="grey", label=chance_label)
        skipped = table["status"] != "ok"
        for t in when[skipped.to_numpy()]:
            ax.axvline(t, color="lightgrey", linestyle=":", linewidth=1)
        if skipped.any():
            ax.plot([], [], color="lightgrey", linestyle=":", label="skipped (training refused)")
        ax.set_title(f"{title} on the leads open at each origin")
        ax.set_xlabel(f"origin (outcomes within {result.horizon_days} days after it)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        ax.set_xticks(list(when))
        ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
        _set_limits(ax, table, key)
    fig.autofmt_xdate()
    try:
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return Path(path)


def _set_limits(ax: Any, table: pd.DataFrame, key: str) -> None:
    values = pd.concat([table[key], table[f"baseline_{key}"]] + ([table["sql_rate"]] if key != "roc_auc" else []))
    values = values.dropna()
    low, high = (0.5, 1.0) if key == "roc_auc" else (0.0, 0.5)
    if len(values):
        low = min(low, math.floor(values.min() * 20) / 20)
        high = min(1.0, max(high, math.ceil((values.max() + 0.1) * 10) / 10))
    ax.set_ylim(low, high)
