"""Every kind of bad input the library was tried with, and what each gets: a table of messages.

Files (observations, bank manifests and shards, checkpoints), arguments (DataModules, samplers) and simulator
outputs, each given to the function that reads it, in a scratch folder. For each: the exception type and
message (or the warning, where the input is usable), whether the message names the file, and whether every
file in the folder is unchanged afterwards.

Usage:
    python -m tools.bad_inputs --out docs/bad_inputs.md
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cmpe_lightning.bank.format import MANIFEST, read_manifest, read_shard, shard_path
from cmpe_lightning.data import load_observations
from cmpe_lightning.estimators.checkpoints import read_checkpoint


def _checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(3)}, "hyper_parameters": {}}, buffer)
    return buffer.getvalue()


def _shard_bytes() -> bytes:
    return _npz(index=np.arange(4), theta=np.zeros((4, 2)), x=np.ones((4, 2)))


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _pt(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def observation_cases() -> list[tuple[str, str, bytes]]:
    """(what, file name, content) of observation files for a task with x of shape (2,)."""
    return [
        ("a text file named .npy", "obs.npy", b"0.1, 0.2\n0.3, 0.4\n"),
        ("an empty file", "obs.npy", b""),
        ("a .pt dict without the key 'observations'", "obs.pt", _pt({"x": torch.zeros(3, 2)})),
        ("an empty array", "obs.npy", _npy(np.zeros((0, 2), dtype=np.float32))),
        ("observations of the wrong shape", "obs.npy", _npy(np.zeros((3, 5), dtype=np.float32))),
        ("a 3-D array", "obs.npy", _npy(np.zeros((3, 2, 2), dtype=np.float32))),
        ("NaN in one row", "obs.npy", _npy(np.array([[0.0, 0.0], [np.nan, 0.0]], dtype=np.float32))),
        ("inf in one row", "obs.npy", _npy(np.array([[np.inf, 0.0]], dtype=np.float32))),
        ("an object array (pickle)", "obs.npy", _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)),
        ("an array of strings", "obs.npy", _npy(np.array([["a", "b"]]))),
        ("an array of complex numbers", "obs.npy", _npy(np.ones((2, 2), dtype=np.complex64))),
        ("a .pt file with a pickled class instance", "obs.pt", _pt({"observations": torch.zeros(2, 2),
                                                                    "extra": argparse.Namespace(a=1)})),
        ("a .pt holding a list", "obs.pt", _pt([torch.zeros(2), torch.zeros(2)])),
        ("a .npz without the array 'observations'", "obs.npz", _npz(data=np.zeros((2, 2)))),
        ("a CSV with a header line", "obs.csv", b"a,b\n0.1,0.2\n"),
        ("a CSV with 3 columns", "obs.csv", b"0.1,0.2,0.3\n"),
        ("an unknown suffix (.json)", "obs.json", b"[[0.1, 0.2]]"),
        ("a truncated .npy", "obs.npy", _npy(np.zeros((100, 2), dtype=np.float32))[:300]),
    ]


def file_cases(folder: Path) -> list[tuple[str, Callable[[], object]]]:
    """(what, call) for every bad file; each call reads a file written into ``folder`` first."""
    cases: list[tuple[str, Callable[[], object]]] = []
    for i, (what, name, content) in enumerate(observation_cases()):
        path = folder / f"case{i:02d}" / name
        path.parent.mkdir()
        path.write_bytes(content)
        cases.append((f"observations: {what}", lambda path=path: load_observations(path, (2,))))
    cases.append(("observations: a file that does not exist", lambda: load_observations(folder / "missing.npy", (2,))))
    (folder / "a_folder.npy").mkdir()
    cases.append(("observations: a folder named .npy", lambda: load_observations(folder / "a_folder.npy", (2,))))
    banks = {
        "manifest: not JSON": (b"this is not json", None),
        "manifest: JSON of another format": (json.dumps({"format": "something-else"}).encode(), None),
        "manifest: fields missing": (json.dumps({"format": "cmpe-simulation-bank-1", "num": 10}).encode(), None),
        "manifest: negative number of runs": (json.dumps({"format": "cmpe-simulation-bank-1", "num": -5,
                                                          "shard_size": 5, "theta_dim": 2,
                                                          "outputs": {}}).encode(), None),
        "shard: truncated (a copy cut short)": (None, _shard_bytes()[:200]),
        "shard: a text file named .npz": (None, b"not a zip archive"),
        "shard: an empty file": (None, b""),
    }
    for i, (what, (manifest, shard)) in enumerate(banks.items()):
        bank = folder / f"bank{i}"
        bank.mkdir()
        if manifest is not None:
            (bank / MANIFEST).write_bytes(manifest)
            cases.append((what, lambda bank=bank: read_manifest(bank)))
        else:
            shard_path(bank, 0).write_bytes(shard)
            cases.append((what, lambda bank=bank: read_shard(bank, 0)))
    cases.append(("bank: a folder that is not a bank", lambda: read_manifest(folder / "case00")))
    checkpoints = {
        "checkpoint: truncated": _checkpoint_bytes()[:500],
        "checkpoint: a text file": b"hello",
        "checkpoint: a tensor, not a checkpoint": _pt(torch.zeros(3)),
        "checkpoint: pickled code": _pt(argparse.Namespace(state_dict={})),
    }
    for i, (what, content) in enumerate(checkpoints.items()):
        path = folder / f"model{i}.ckpt"
        path.write_bytes(content)
        cases.append((what, lambda path=path: read_checkpoint(path)))
    return cases


def argument_cases() -> list[tuple[str, Callable[[], object]]]:
    from cmpe_lightning import ConsistencyPosteriorEstimator, FailingSimulator, SimulationDataModule, TwoMoons
    from cmpe_lightning.utils.structure import finite_pairs

    estimator = ConsistencyPosteriorEstimator((2,), (2,)).eval()
    x = torch.zeros(2, 2)
    theta_nan, x_nan = FailingSimulator(TwoMoons(), failure_rate=0.3).sample_joint(
        100, torch.Generator().manual_seed(0))
    return [
        ("DataModule: mode 'offline'", lambda: SimulationDataModule(TwoMoons(), mode="offline")),
        ("DataModule: batch_size 0", lambda: SimulationDataModule(TwoMoons(), batch_size=0)),
        ("DataModule: num_simulations -1", lambda: SimulationDataModule(TwoMoons(), num_simulations=-1)),
        ("DataModule: num_calibration_observations -3",
         lambda: SimulationDataModule(TwoMoons(), num_calibration_observations=-3)),
        ("sampler: num_steps 0", lambda: estimator.sample(x, 10, num_steps=0)),
        ("sampler: num_steps 2.5", lambda: estimator.sample(x, 10, num_steps=2.5)),
        ("sampler: num_steps 'ten'", lambda: estimator.sample(x, 10, num_steps="ten")),
        ("sampler: num_samples -1", lambda: estimator.sample(x, -1)),
        ("sampler: an unknown option", lambda: estimator.sample(x, 10, steps=3)),
        ("sampler: observation of the wrong shape", lambda: estimator.sample(torch.zeros(2, 3), 10)),
        ("sampler: NaN observation", lambda: estimator.sample(torch.tensor([[float("nan"), 0.0]]), 10)),
        ("simulator output: 30 % of runs NaN in a batch",
         lambda: f"{finite_pairs(theta_nan, x_nan)[2]} of 100 pairs dropped"),
        ("simulator: failure_rate 1.5", lambda: FailingSimulator(TwoMoons(), failure_rate=1.5)),
    ]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def run_case(call: Callable[[], object]) -> tuple[str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as error:  # noqa: BLE001 -- the point is to record what each input gets
            return type(error).__name__, str(error)
    if caught:
        return "warning", str(caught[-1].message)
    return "accepted", str(result)[:80] if isinstance(result, str) else "accepted"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="a Markdown file for the table (default: print only)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        cases = file_cases(folder) + argument_cases()
        before = digest(folder)
        for what, call in cases:
            kind, message = run_case(call)
            rows.append({"input": what, "result": kind, "message": message.replace("\n", " ").replace(scratch, "…")})
        intact = digest(folder) == before
    lines = [f"# What bad input gets\n\n`python -m tools.bad_inputs --out docs/bad_inputs.md`: {len(rows)}"
             f" kinds of bad input; every file in the scratch folder unchanged afterwards:"
             f" {'yes' if intact else 'NO'}.\n",
             "| # | input | result | message |", "|---|---|---|---|"]
    lines += [f"| {i} | {r['input']} | {r['result']} | {r['message'][:400].replace('|', '/')} |"
              for i, r in enumerate(rows, 1)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return rows


if __name__ == "__main__":
    main()
