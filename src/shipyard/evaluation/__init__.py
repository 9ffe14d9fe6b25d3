"""Test-split metrics and baselines."""
