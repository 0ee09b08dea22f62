"""Features: one definition for training, batch scoring, the service and explanations.

``FeatureBuilder`` (``builder.py``) is the definition; ``build_snapshots`` and
``open_leads_at`` (``snapshots.py``) say which (lead, as-of time) rows to compute;
``build_training_set`` ties them together for training.
"""

from mqlscore.features.builder import FeatureBuilder, NotFittedError
from mqlscore.features.snapshots import build_snapshots, open_leads_at
from mqlscore.features.training_set import TrainingSet, build_training_set

__all__ = ["FeatureBuilder", "NotFittedError", "TrainingSet", "build_snapshots", "build_training_set",
           "open_leads_at"]
