"""Synthetic digital-health CRM exports with a known truth (``mqlscore generate``)."""

from mqlscore.synthetic.drift import CHANGES_FILE, ExportRecord, WorldChanges, earlier_dirs, read_changes
from mqlscore.synthetic.generate import EarlierExport, GenerationResult, default_truth_dir, generate_export

__all__ = ["CHANGES_FILE", "EarlierExport", "ExportRecord", "GenerationResult", "WorldChanges", "default_truth_dir",
           "earlier_dirs", "generate_export", "read_changes"]
