"""Finding and reading MNIST-style image sets (Fashion-MNIST, MNIST, KMNIST) in the IDX format.

The files are read directly (gzipped or not), so torchvision is imported only to download.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ...utils.errors import InputError, MissingFileError

# torchvision's class name -> Debian's data package and its folder
DEBIAN = {"FashionMNIST": ("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist")}
DATASETS = ("FashionMNIST", "MNIST", "KMNIST")
FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}


def read_idx_images(path: str | Path) -> Tensor:
    """The ``uint8`` images ``(n, rows, columns)`` of an IDX3 file (``.gz`` or not).

    Raises:
        ValueError: if the file is not an IDX file of unsigned bytes with three dimensions, or is truncated.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:  # e.g. a file named .gz that is not gzipped, or a cut gzip stream
        raise InputError(f"Cannot read the image file {str(path)!r}: {error}.") from error
    if len(data) < 16 or data[:4] != b"\x00\x00\x08\x03":
        raise InputError(f"{str(path)!r} is not an IDX file of 3-D unsigned-byte images (magic number 0x00000803).")
    n, rows, columns = (int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(3))
    if len(data) != 16 + n * rows * columns:
        raise InputError(f"{str(path)!r} holds {len(data) - 16} pixel bytes, expected {n} x {rows} x {columns}:"
                         " truncated?")
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, columns).copy())


def candidate_folders(dataset: str, root: str | Path | None) -> list[Path]:
    """Where to look, in order: ``<root>/<dataset>/raw`` (torchvision's layout), ``root`` itself, Debian's folder."""
    folders = []
    if root is not None:
        folders += [Path(root) / dataset / "raw", Path(root)]
    if dataset in DEBIAN:
        folders.append(Path(DEBIAN[dataset][1]))
    return folders


def find_split(folder: Path, split: str) -> Path | None:
    for name in (FILES[split], FILES[split] + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_image_set(dataset: str = "FashionMNIST", root: str | Path | None = None,
                   download: bool = False) -> dict[str, Tensor]:
    """The ``train`` and ``test`` images ``(n, 28, 28)`` (uint8) of ``dataset``, wherever a user has them.

    Looks in torchvision's layout under ``root``, in ``root`` itself, and in Debian's package folder; with
    ``download``, torchvision downloads the set into ``root`` when none is found.

    Raises:
        ValueError: for a dataset name other than FashionMNIST, MNIST or KMNIST.
        FileNotFoundError: when the images are nowhere; the message names both ways to get them.
    """
    if dataset not in DATASETS:
        raise InputError(f"Unknown image set {dataset!r}; expected one of {DATASETS}.")
    folders = candidate_folders(dataset, root)
    for folder in folders:
        paths = {split: find_split(folder, split) for split in FILES}
        if all(paths.values()):
            return {split: read_idx_images(path) for split, path in paths.items()}
    if download:
        if root is None:
            raise InputError("download: true needs a root folder to download into (--data.init_args.root).")
        import torchvision  # only here: the rest of the package does not need it

        for train in (True, False):
            getattr(torchvision.datasets, dataset)(str(root), train=train, download=True)
        return load_image_set(dataset, root, download=False)
    ways = [f"set download: true with a root folder, and torchvision downloads {dataset} there (needs the internet)"]
    if dataset in DEBIAN:
        package, folder = DEBIAN[dataset]
        ways.append(f"or install Debian's package (apt-get install {package}), whose files in {folder}"
                    " are found automatically")
    looked = ", ".join(str(f) for f in folders) or "nowhere (no root given)"
    raise MissingFileError(
        f"{dataset} images ({FILES['train']}[.gz], {FILES['test']}[.gz]) not found; looked in {looked}. To get them, "
        + "; ".join(ways) + "."
    )
