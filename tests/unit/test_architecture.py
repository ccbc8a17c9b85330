"""The package's contracts: an abstract base, lazy imports, the backbone contract and clear shape errors."""

import re
import subprocess
import sys

import pytest
import torch

from cmpe_lightning import ConsistencyPosteriorEstimator, FlowMatchingPosteriorEstimator, PosteriorEstimator
from cmpe_lightning.networks import ConditionalMLP, ResidualMLP

HEAVY = ("lightning", "pytorch_lightning", "sklearn", "zuko", "numba")


def test_the_base_estimator_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        PosteriorEstimator(2, (2,))


@pytest.mark.parametrize("module", ["cmpe_lightning", "cmpe_lightning.simulators", "cmpe_lightning.tasks.two_moons",
                                    "cmpe_lightning.tasks.tumor"])
def test_importing_a_simulator_loads_nothing_heavy(module):
    script = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_no_two_subpackages_import_each_other():
    from pathlib import Path

    from tools.import_graph import cycles, import_graph

    edges = import_graph(Path(__file__).parents[2] / "cmpe_lightning")
    assert edges["tasks"] and not cycles(edges)
    assert not edges["simulators"] - {"utils"} and not edges["networks"] - {"utils"}  # the bottom layers
    assert not edges["utils"] and not edges["compat"]  # stay at the bottom


def test_no_module_of_the_package_reads_a_path_relative_to_the_repository():
    """The installed wheel has no checkout around it: the package finds nothing by its own file's location."""
    from pathlib import Path

    root = Path(__file__).parents[2]
    offences = [f"{path.relative_to(root)}:{number}: {line.strip()}"
                for path in (root / "cmpe_lightning").rglob("*.py")
                for number, line in enumerate(path.read_text().splitlines(), 1)
                if re.search(r"__file__|\.\./shared|\bshared/data", line)]
    assert not offences, "\n".join(offences)


def test_moved_names_say_where_they_went():
    import cmpe_lightning.simulators

    with pytest.raises(AttributeError, match="moved to cmpe_lightning.tasks.two_moons"):
        cmpe_lightning.simulators.TwoMoons  # noqa: B018


@pytest.mark.parametrize("estimator", [ConsistencyPosteriorEstimator, FlowMatchingPosteriorEstimator])
def test_a_backbone_that_breaks_the_contract_is_named(estimator):
    with pytest.raises(TypeError, match="for an MLP use cmpe_lightning.networks.ConditionalMLP"):
        estimator(2, (2,), backbone=ResidualMLP)


def test_observations_with_nan_or_the_wrong_shape_are_refused():
    est = ConsistencyPosteriorEstimator(2, (3,), backbone=lambda s, c: ConditionalMLP(s, c, width=8))
    with pytest.raises(ValueError, match=r"Observations \[1\] of 2 contain NaN"):
        est.sample(torch.tensor([[0.0, 0, 0], [float("nan"), 0, 0]]), 5)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\), got \{'a': \(2, 3\)\}"):
        est.sample({"a": torch.zeros(2, 3)}, 5)
    assert est.sample([[0.0, 1.0, 2.0]], 4, num_steps=1).shape == (1, 4, 2)  # lists and arrays work too
