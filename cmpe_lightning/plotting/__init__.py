"""Plots of posterior samples (the diagnostics' figures live with their callbacks)."""

from .pairs import describe_observation, pair_plot, prior_limits

__all__ = ["pair_plot", "prior_limits", "describe_observation"]
