"""Models: the points scorecard, LightGBM, calibration and the hand-set baseline."""
