"""No code outside an estimator's class assigns its attributes: settings go through its public methods
(``configure_sampling``, ``set_sampler_defaults``), so that what an estimator does is visible in its class."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
# the names an estimator goes by in callbacks, the CLI, scripts and the harness
ESTIMATOR_NAMES = {"pl_module", "model", "estimator", "est", "lightning_module"}


def refers_to_an_estimator(node: ast.expr) -> bool:
    """``pl_module``, ``model``, ``cli.model``, ``trainer.lightning_module``, ...; never ``self``."""
    if isinstance(node, ast.Name):
        return node.id in ESTIMATOR_NAMES
    return isinstance(node, ast.Attribute) and node.attr in ESTIMATOR_NAMES


def outside_assignments(source: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every ``estimator.attr = ...`` (also augmented, ``estimator.hparams[k] = ...`` and
    ``setattr(estimator, ...)``) in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            for leaf in ast.walk(target):
                owner = leaf.value if isinstance(leaf, (ast.Attribute, ast.Subscript)) else None
                if isinstance(leaf, ast.Subscript) and isinstance(owner, ast.Attribute):
                    owner = owner.value  # estimator.hparams["k"] = ...
                if owner is not None and refers_to_an_estimator(owner):
                    found.append((node.lineno, ast.unparse(target)))
                    break
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                and node.args and refers_to_an_estimator(node.args[0])):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_check_finds_what_it_looks_for():
    code = "pl_module.num_steps = 3\ncli.model.x += 1\nmodel.hparams['k'] = 2\nsetattr(est, 'a', 1)\nself.model_x = 1\n"
    assert [line for line, _ in outside_assignments(code)] == [1, 2, 3, 4]


def test_no_attribute_of_an_estimator_is_assigned_from_outside():
    files = [*ROOT.glob("cmpe_lightning/**/*.py"), *ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("tools/*.py")]
    offences = [f"{path.relative_to(ROOT)}:{line}: {code}" for path in files
                for line, code in outside_assignments(path.read_text())]
    assert len(files) > 50 and not offences, "\n".join(offences)
