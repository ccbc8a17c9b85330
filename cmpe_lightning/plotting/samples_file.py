"""``cmpe-plot``: pair plots of the posterior samples file written by ``cmpe predict``, one per observation."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from ..utils.errors import InputError, MissingFileError
from .pairs import describe_observation, pair_plot

MAX_PARAMETERS = 12  # beyond this a pair plot is unreadable (images have their own grids)


def read_samples_file(path: str | Path) -> tuple[Tensor, Tensor | dict[str, Tensor]]:
    """``(samples, observations)`` of a ``.pt`` or ``.npz`` file of ``cmpe predict`` (no pickle is executed)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"No samples file {str(path)!r}.")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: torch.from_numpy(data[k]) for k in data.files}
            parts = {k.removeprefix("observations."): v for k, v in arrays.items() if k.startswith("observations.")}
            content = {"samples": arrays.get("samples"), "observations": parts or arrays.get("observations")}
        elif path.suffix == ".pt":
            content = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise InputError(f"{path} must end in .pt or .npz, as `cmpe predict` writes it.")
    except (OSError, ValueError, RuntimeError) as error:
        if isinstance(error, ValueError) and "must end in" in str(error):
            raise
        raise InputError(f"Could not read {path} as a samples file of `cmpe predict`: {error}") from error
    if not isinstance(content, dict) or not isinstance(content.get("samples"), Tensor) or content["samples"].ndim < 3:
        raise InputError(f"{path} holds no 'samples' of shape (observations, draws, *theta_shape); expected the file"
                         " written by `cmpe predict`.")
    return content["samples"], content.get("observations")


def plot_samples(samples: Tensor, observations, stem: Path, num_plots: int = 4, limits: Tensor | None = None,
                 names: list[str] | None = None) -> list[Path]:
    """Writes ``<stem>_pairs_<i>.png`` for the first ``num_plots`` observations; returns the paths."""
    if samples[0, 0].numel() > MAX_PARAMETERS:
        print(f"Pair plots skipped: {samples[0, 0].numel()} parameters per draw (at most {MAX_PARAMETERS} plotted).")
        return []
    paths = []
    for i in range(min(num_plots, len(samples))):
        x = None if observations is None else (
            {k: v[i] for k, v in observations.items()} if isinstance(observations, dict) else observations[i])
        title = f"observation {i}" + ("" if x is None else f": {describe_observation(x)}")
        fig = pair_plot(samples[i], limits=limits, names=names, title=title)
        path = stem.with_name(f"{stem.name}_pairs_{i}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    if paths:
        print(f"Wrote pair plots {paths[0]}" + (f" ... {paths[-1].name}" if len(paths) > 1 else ""))
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    """Entry point of ``cmpe-plot``."""
    parser = argparse.ArgumentParser(prog="cmpe-plot", description=__doc__)
    parser.add_argument("samples", help="the .pt or .npz file written by `cmpe predict`")
    parser.add_argument("--observations", type=int, default=4, help="how many observations to plot (the first ones)")
    parser.add_argument("--output", help="folder of the PNGs (default: next to the samples file)")
    parser.add_argument("--names", nargs="+", help="parameter names")
    args = parser.parse_args(argv)
    try:
        samples, observations = read_samples_file(args.samples)
    except (OSError, ValueError) as error:  # a wrong file: one line, no traceback
        parser.error(str(error))
    source = Path(args.samples)
    folder = Path(args.output) if args.output else source.parent
    folder.mkdir(parents=True, exist_ok=True)
    return plot_samples(samples, observations, folder / source.stem, args.observations, names=args.names)


if __name__ == "__main__":
    main()
