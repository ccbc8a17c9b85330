"""An SIR epidemic as plain functions, for cmpe_lightning's FunctionSimulator (docs/examples/sir.md).

The model of sbibm's SIR task (Lueckmann et al., 2021): a population of N = 1 000 000 with one infected
person on day 0, contact rate beta and recovery rate gamma, the deterministic SIR equations integrated
over 160 days, and 10 noisy reports of the infected count, every 16 days: a binomial draw of 1000 tests
with the infected fraction as positive rate.
"""

import numpy as np
import torch
from torch.distributions import Independent, LogNormal

POPULATION = 1_000_000
DAYS, STEPS_PER_DAY = 160, 10
REPORT_DAYS = np.linspace(0, DAYS, 11)[1:]  # days 16, 32, ..., 160
TESTS = 1000


def prior():
    """beta ~ LogNormal(log 0.4, 0.5), gamma ~ LogNormal(log 1/8, 0.2), as sbibm."""
    return Independent(LogNormal(torch.tensor([np.log(0.4), np.log(1 / 8)]), torch.tensor([0.5, 0.2])), 1)


def infected_fraction(theta):
    """The infected fraction I/N at the report days for parameters theta (n, 2), by Euler steps of 0.1 day."""
    beta, gamma = theta[:, 0], theta[:, 1]
    s, i = np.full(len(theta), 1 - 1 / POPULATION), np.full(len(theta), 1 / POPULATION)
    dt, reports, out = 1 / STEPS_PER_DAY, set(np.round(REPORT_DAYS * STEPS_PER_DAY).astype(int)), []
    for step in range(1, DAYS * STEPS_PER_DAY + 1):
        infections, recoveries = beta * s * i * dt, gamma * i * dt
        s, i = s - infections, i + infections - recoveries
        if step in reports:
            out.append(i.copy())
    return np.clip(np.stack(out, 1), 0.0, 1.0)


def simulate(theta, rng):
    """10 reports (n, 10): positives among 1000 tests at each report day, scaled to [0, 1]."""
    return rng.binomial(TESTS, infected_fraction(theta)) / TESTS
