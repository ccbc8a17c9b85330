"""ODE solvers for flow matching: fixed-step Euler, midpoint and RK4, and adaptive Dormand-Prince."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import zuko
from torch import Tensor

from ..utils.checks import positive_int
from ..utils.errors import InputError

Solver = Literal["euler", "midpoint", "rk4", "dopri5"]
SOLVERS = ("euler", "midpoint", "rk4", "dopri5")


def _euler(f, t: float, x: Tensor, h: float) -> Tensor:
    return x + h * f(t, x)


def _midpoint(f, t: float, x: Tensor, h: float) -> Tensor:
    return x + h * f(t + h / 2, x + h / 2 * f(t, x))


def _rk4(f, t: float, x: Tensor, h: float) -> Tensor:
    k1 = f(t, x)
    k2 = f(t + h / 2, x + h / 2 * k1)
    k3 = f(t + h / 2, x + h / 2 * k2)
    k4 = f(t + h, x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


FIXED_STEP = {"euler": _euler, "midpoint": _midpoint, "rk4": _rk4}


def integrate(
    f: Callable[[float, Tensor], Tensor],
    x: Tensor,
    t0: float,
    t1: float,
    solver: Solver = "euler",
    num_steps: int = 1000,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> tuple[Tensor, int]:
    """Solves ``dx/dt = f(t, x)`` from ``t0`` to ``t1``; returns ``x(t1)`` and the number of evaluations of ``f``.

    Fixed-step solvers take ``num_steps`` equal steps (1, 2 and 4 evaluations per step); ``dopri5`` is
    zuko's adaptive Dormand-Prince method with tolerances ``atol`` and ``rtol`` (``num_steps`` unused).

    Example:
        >>> x1, calls = integrate(lambda t, x: -x, torch.ones(1), 0.0, 1.0, "rk4", num_steps=10)
        >>> round(x1.item(), 5), calls
        (0.36788, 40)
    """
    calls = 0

    def counted(t: float | Tensor, state: Tensor) -> Tensor:
        nonlocal calls
        calls += 1
        return f(float(t), state)

    if solver == "dopri5":
        return zuko.utils.odeint(counted, x, t0, t1, atol=atol, rtol=rtol), calls
    if solver not in FIXED_STEP:
        raise InputError(f"Unknown solver {solver!r}; expected one of {SOLVERS}.")
    num_steps = positive_int(num_steps, "num_steps")
    step, h = FIXED_STEP[solver], (t1 - t0) / num_steps
    for i in range(num_steps):
        x = step(counted, t0 + i * h, x, h)
    return x, calls


def divergence(f: Callable[[Tensor], Tensor], x: Tensor, exact: bool, generator: torch.Generator | None = None):
    """``(f(x), div f(x))`` per row of ``x``: exact (one backward pass per dimension) or Hutchinson's estimate.

    Hutchinson's estimator ``e^T (df/dx) e`` with Rademacher ``e`` is unbiased and costs one backward pass.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        fx = f(x)
        if exact:
            div = sum(
                torch.autograd.grad(fx[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1])
            )
        else:
            e = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
            div = (torch.autograd.grad(fx, x, e)[0] * e).sum(-1)
    return fx.detach(), div.detach()
