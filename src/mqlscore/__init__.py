"""mqlscore: open, explainable MQL scoring for digital-health and telehealth vendors."""

__version__ = "0.1.0"
