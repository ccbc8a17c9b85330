"""Fixtures of every tier; tests under integration/ (end to end: they train through the CLI or train(), or
start processes) are marked slow, so that ``python -m pytest -m "not slow"`` is the quick loop."""

from pathlib import Path

import numpy as np
import pytest
import torch
from support import write_idx


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Caches (reference posteriors) go to a folder of this test session, not the user's home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """Small generated image files in torchvision's layout: image i of each split has the constant value i."""
    raw = tmp_path / "images" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [("train", 60), ("t10k", 40)]:
        images = rng.integers(0, 256, size=(n, 28, 28))
        images[:, 0, 0] = np.arange(n)  # identifies the image after the split
        compress = name == "train"  # one split gzipped (Debian's and torchvision's), one not
        write_idx(raw / f"{name}-images-idx3-ubyte{'.gz' if compress else ''}", images, compress)
    return tmp_path / "images"
