"""Where the service's lead store is and how its clock runs, as the environment says.

``mqlscore serve`` passes its ``--store`` and ``--clock-from`` to the workers (and the
workers to the scorer process) through these variables, so every process of one
service opens the same store and keeps the same time.
"""

from __future__ import annotations

import os

from mqlscore.config import StoreConfig
from mqlscore.store.clock import Clock, clock_from

STORE_ENV = "MQLSCORE_STORE"
CLOCK_ENV = "MQLSCORE_STORE_CLOCK_FROM"
CLOCK_ANCHOR_ENV = "MQLSCORE_STORE_CLOCK_ANCHOR"  # the real moment the shifted clock read its start


def store_url(config: StoreConfig) -> str:
    """The store the service uses: ``MQLSCORE_STORE``, else the settings' ``url`` (empty: none)."""
    return os.environ.get(STORE_ENV, "").strip() or config.url.strip()


def service_clock() -> Clock:
    """The store's clock: the system's, or shifted by ``MQLSCORE_STORE_CLOCK_FROM`` (and kept
    in step with the process that started this one by ``MQLSCORE_STORE_CLOCK_ANCHOR``)."""
    return clock_from(os.environ.get(CLOCK_ENV), os.environ.get(CLOCK_ANCHOR_ENV))
