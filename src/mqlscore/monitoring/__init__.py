"""The model's life after training: ``mqlscore monitor`` (docs/monitoring.md).

One module per job: :mod:`.windows` (which snapshots and weeks), :mod:`.intervals`
(bootstrap over leads, exact intervals), :mod:`.performance` (realised figures),
:mod:`.relationships` (signals that predict differently), :mod:`.drift` (PSI),
:mod:`.inflow` (new leads and activities per week), :mod:`.verdict` (the rules),
:mod:`.core` (:func:`monitor`, which writes nothing), :mod:`.report`
(``monitor.json``, ``monitor.md`` and plots) and :mod:`.history` (MLflow).
"""

from mqlscore.monitoring.core import MonitorResult, monitor
from mqlscore.monitoring.drift import psi
from mqlscore.monitoring.intervals import Interval
from mqlscore.monitoring.performance import Figures, realised_figures
from mqlscore.monitoring.verdict import VERDICTS, Reason
from mqlscore.monitoring.windows import MonitorError

__all__ = ["VERDICTS", "Figures", "Interval", "MonitorError", "MonitorResult", "Reason", "monitor", "psi",
           "realised_figures"]
