"""Which subpackage of cmpe_lightning imports which: every import statement, also inside functions.

Usage::

    python -m tools.import_graph [--root PATH_TO_A_CHECKOUT]

Prints one line per subpackage (or top-level module) with the subpackages it imports, then the pairs
that import each other. It reads the source with :mod:`ast` and imports nothing.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path


def import_graph(package: Path) -> dict[str, set[str]]:
    """``{importer: {imported, ...}}`` over the top-level subpackages and modules of ``package``."""
    edges: dict[str, set[str]] = defaultdict(set)
    for file in package.rglob("*.py"):
        parts = file.relative_to(package).parts
        here = parts[0].removesuffix(".py") if parts[0] != "__init__.py" else "(root)"
        for node in ast.walk(ast.parse(file.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:  # relative: resolve against this file's package
                base = list(parts[:-1])[: max(len(parts) - node.level, 0)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == package.name:
                target = node.module.split(".")[1:]
            else:
                continue
            # `from . import a, b` at the top level names the subpackages themselves
            names = target[:1] or [alias.name for alias in node.names]
            edges[here].update(name for name in names if name != here and is_part(package, name))
    return edges


def is_part(package: Path, name: str) -> bool:
    """Whether ``name`` is a subpackage or module of ``package`` (not, e.g., ``__version__``)."""
    return (package / name).is_dir() or (package / f"{name}.py").is_file()


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """The pairs of subpackages that import each other."""
    return sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, set())})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).parents[1], help="a checkout of the project")
    args = parser.parse_args(argv)
    edges = import_graph(args.root / "cmpe_lightning")
    for importer in sorted(edges):
        print(f"{importer:12s} -> {', '.join(sorted(edges[importer]))}")
    print("import each other:", cycles(edges) or "none")


if __name__ == "__main__":
    main()
