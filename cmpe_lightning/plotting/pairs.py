"""Pair (corner) plots of posterior samples: every parameter pair, a reference where there is one, the truth."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

from ..utils.errors import InputError

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from torch import Tensor  # noqa: E402


def prior_limits(theta: Tensor, coverage: float = 0.99, margin: float = 0.05) -> Tensor:
    """Axis limits ``(d, 2)`` holding the central ``coverage`` of parameters ``theta`` ``(n, d)`` (prior draws), padded.

    Example:
        >>> prior_limits(torch.linspace(-1, 1, 1001)[:, None], coverage=1.0, margin=0.0).tolist()
        [[-1.0, 1.0]]
    """
    flat = theta.detach().flatten(1).double().cpu()
    tail = (1 - coverage) / 2
    low, high = torch.quantile(flat, tail, dim=0), torch.quantile(flat, 1 - tail, dim=0)
    pad = margin * (high - low).clamp_min(1e-12)
    return torch.stack([low - pad, high + pad], dim=1)


def pair_plot(samples: Tensor, reference: Tensor | None = None, truth: Tensor | None = None,
              limits: Tensor | None = None, names: Sequence[str] | None = None, title: str | None = None,
              label: str = "posterior samples", max_points: int = 2000) -> plt.Figure:
    """A corner plot of ``samples`` ``(n, d)``: histograms on the diagonal, scatter below it.

    Args:
        samples: draws to plot (flattened to ``(n, d)``).
        reference: reference posterior draws ``(m, d)``, drawn in grey underneath.
        truth: the true parameter ``(d,)``, marked in red.
        limits: fixed axis limits ``(d, 2)`` (for example the prior's, :func:`prior_limits`).
        names: parameter names (default ``θ1, θ2, ...``).
        title: the figure's title (the observation, a C2ST).
        label: legend label of ``samples``.
        max_points: points drawn per set and panel.

    Example:
        >>> fig = pair_plot(torch.randn(500, 3), truth=torch.zeros(3), title="x = (0.1, 0.2)")
        >>> len(fig.axes)
        9
    """
    samples = samples.detach().flatten(1)[:max_points].double().cpu().numpy()
    d = samples.shape[1]
    ref = None if reference is None else reference.detach().flatten(1)[:max_points].double().cpu().numpy()
    true = None if truth is None else truth.detach().flatten().double().cpu().numpy()
    names = list(names) if names is not None else [f"θ{j + 1}" for j in range(d)]
    if len(names) != d:
        raise InputError(f"pair_plot got {len(names)} names for {d} parameters.")
    size = min(2.2, 9 / d)
    fig, axes = plt.subplots(d, d, figsize=(size * d + 0.4, size * d + 0.6), squeeze=False)
    for row in range(d):
        for col in range(d):
            ax = axes[row, col]
            if col > row:
                ax.axis("off")
                continue
            if row == col:
                bins = np.linspace(*limits[col].tolist(), 40) if limits is not None else 40
                if ref is not None:
                    ax.hist(ref[:, col], bins=bins, density=True, color="0.6", alpha=0.6)
                ax.hist(samples[:, col], bins=bins, density=True, color="tab:blue", alpha=0.6)
                if true is not None:
                    ax.axvline(true[col], color="tab:red", lw=1.5)
                ax.set_yticks([])
            else:
                if ref is not None:
                    ax.scatter(ref[:, col], ref[:, row], s=1, c="0.6", alpha=0.3, rasterized=True)
                ax.scatter(samples[:, col], samples[:, row], s=1, c="tab:blue", alpha=0.3, rasterized=True)
                if true is not None:
                    ax.plot(true[col], true[row], "x", c="tab:red", ms=8, mew=2)
                if limits is not None:
                    ax.set_ylim(*limits[row].tolist())
            if limits is not None:
                ax.set_xlim(*limits[col].tolist())
            if row == d - 1:
                ax.set_xlabel(names[col])
            if col == 0 and row > 0:
                ax.set_ylabel(names[row])
    handles = [Line2D([], [], ls="", marker="o", c="tab:blue", label=label)]
    if ref is not None:
        handles.append(Line2D([], [], ls="", marker="o", c="0.6", label="reference posterior"))
    if true is not None:
        handles.append(Line2D([], [], ls="", marker="x", c="tab:red", mew=2, label="true θ"))
    fig.legend(handles=handles, loc="upper right", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def describe_observation(x, max_values: int = 4) -> str:
    """A short text of one observation: its first values, or its parts' shapes.

    Example:
        >>> describe_observation(torch.tensor([0.123, -1.0]))
        'x = (0.123, -1)'
    """
    if isinstance(x, dict):
        return "x: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in x.items())
    flat = torch.as_tensor(x).flatten().tolist()
    text = ", ".join(f"{v:.3g}" for v in flat[:max_values])
    return f"x = ({text}{', …' if len(flat) > max_values else ''})"
