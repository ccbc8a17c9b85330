"""Helpers shared by tests of both tiers (files in the formats the package reads)."""

import gzip
from pathlib import Path

import numpy as np

from cmpe_lightning.bank import format as bank_format


def write_idx(path: Path, images: np.ndarray, compress: bool) -> None:
    header = b"\x00\x00\x08\x03" + b"".join(int(n).to_bytes(4, "big") for n in images.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as file:
        file.write(header + images.astype(np.uint8).tobytes())


TUMOR_OUTPUTS = {"growth_curve": (20,), "extra_cellular_matrix_profile": (1000,), "proliferation_profile": (1000,)}


def write_bank(folder: Path, num=100, shard_size=32, outputs=None, theta_dim=2, failed=(), skip_shards=()) -> Path:
    """A fake bank of random numbers of the right shapes; ``failed`` runs have ok=False and NaN outputs."""
    outputs = outputs or {"x": (3,)}
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": bank_format.FORMAT, "simulator": {"class_path": "fake", "init_args": {}}, "seed": 0,
                "num": num, "shard_size": shard_size, "theta_dim": theta_dim,
                "outputs": {name: list(shape) for name, shape in outputs.items()}}
    bank_format.write_manifest(folder, manifest)
    for shard in range(bank_format.num_shards(manifest)):
        runs = np.array(bank_format.shard_runs(manifest, shard))
        ok = ~np.isin(runs, failed)
        arrays = {"index": runs, "theta": rng.normal(size=(len(runs), theta_dim)), "seed": runs + 1000, "ok": ok,
                  "runtime_s": rng.random(len(runs))}
        for name, shape in outputs.items():
            arrays[name] = rng.normal(3.0, 2.0, size=(len(runs), *shape))
            arrays[name][~ok] = np.nan
        if shard not in skip_shards:
            bank_format.write_shard(folder, shard, arrays)
    return folder


def tumor_bank(folder: Path, num=120) -> Path:
    return write_bank(folder, num=num, shard_size=50, outputs=TUMOR_OUTPUTS, theta_dim=7)
