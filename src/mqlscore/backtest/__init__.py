"""``mqlscore backtest``: rolling-origin evaluation of training as it is configured.

``origins.py`` chooses the origins, ``cut.py`` gives what was known at one,
``run.py`` trains, scores and compares at each (:func:`backtest`, which writes
nothing) and ``report.py`` writes the table, the JSON and the plot. See
``docs/monitoring.md`` (Backtests).
"""

from mqlscore.backtest.cut import known_at
from mqlscore.backtest.origins import CensoredOrigin, Every, OriginError, choose_origins, parse_every
from mqlscore.backtest.run import FIGURES, BacktestResult, OriginResult, backtest, origin_figures, score_open_leads

__all__ = ["FIGURES", "BacktestResult", "CensoredOrigin", "Every", "OriginError", "OriginResult", "backtest",
           "choose_origins", "known_at", "origin_figures", "parse_every", "score_open_leads"]
