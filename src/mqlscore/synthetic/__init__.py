"""Synthetic digital-health CRM exports with a known truth (``mqlscore generate``)."""

from mqlscore.synthetic.generate import GenerationResult, default_truth_dir, generate_export

__all__ = ["GenerationResult", "default_truth_dir", "generate_export"]
