"""Explanations: SHAP values, permutation importance and a global surrogate tree."""

from shipyard.explain.explainer import Model, check_row, explain

__all__ = ["Model", "check_row", "explain"]
