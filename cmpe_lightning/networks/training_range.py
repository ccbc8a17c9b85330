"""The range of the training observations, kept in the checkpoint to flag observations far outside it."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn


class TrainingRange(nn.Module):
    """Per-feature minimum and maximum of preprocessed training observations, and a check of new ones.

    An amortized posterior is only trained where the simulations are; for an observation outside them
    (other units, a misspecified model, a broken sensor) its draws are an extrapolation. :meth:`warn_outside`
    names the observations with a feature more than ``margin`` times the training range beyond it.
    Checkpoints written before this module existed load with an unfitted range (nothing is flagged).

    Example:
        >>> limits = TrainingRange(3)
        >>> limits.fit(torch.randn(1000, 3))
        >>> limits.outside(torch.tensor([[0.0, 0.0, 0.0], [0.0, 50.0, 0.0]])).tolist()
        [False, True]
    """

    def __init__(self, num_features: int, margin: float = 0.25):
        super().__init__()
        self.margin = margin
        self.register_buffer("low", torch.full((num_features,), -torch.inf))
        self.register_buffer("high", torch.full((num_features,), torch.inf))

    @property
    def fitted(self) -> bool:
        return bool(torch.isfinite(self.low).all())

    @torch.no_grad()
    def fit(self, features: Tensor) -> None:
        """Records the range of ``features`` ``(n, ...)`` (flattened per row)."""
        flat = features.reshape(len(features), -1).float()
        self.low.copy_(flat.min(0).values)
        self.high.copy_(flat.max(0).values)

    @torch.no_grad()
    def outside(self, features: Tensor) -> Tensor:
        """Which rows of ``features`` have a value beyond the range widened by ``margin`` of its width: ``(n,)``."""
        return self._excess(features).amax(1) > 0

    def _excess(self, features: Tensor) -> Tensor:
        flat = features.reshape(len(features), -1).float()
        slack = self.margin * (self.high - self.low).clamp_min(1e-3)
        return torch.maximum(self.low - slack - flat, flat - self.high - slack)

    @torch.no_grad()
    def warn_outside(self, features: Tensor, what: str = "Observations") -> None:
        """Warns, naming the observations (rows of ``features``) outside the training range and the worst feature."""
        if not self.fitted:
            return
        excess = self._excess(features)
        rows = (excess.amax(1) > 0).nonzero().flatten().tolist()
        if not rows:
            return
        row = rows[0]
        feature = int(excess[row].argmax())
        value = float(features.reshape(len(features), -1)[row, feature])
        warnings.warn(
            f"{what} {rows[:10]}{' ...' if len(rows) > 10 else ''} of {len(features)} lie far outside the training"
            f" simulations (observation {row}: preprocessed feature {feature} is {value:.3g}, training range"
            f" [{float(self.low[feature]):.3g}, {float(self.high[feature]):.3g}]). The posterior there is an"
            " extrapolation: check the units and the model.", UserWarning, stacklevel=3)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        present = {name: state_dict.get(prefix + name) for name in ("low", "high")}
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        for name, value in present.items():  # an older checkpoint: stay unfitted
            if value is None and prefix + name in missing_keys:
                missing_keys.remove(prefix + name)
