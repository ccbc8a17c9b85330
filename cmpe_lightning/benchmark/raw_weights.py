"""Writes a copy of a checkpoint whose ``state_dict`` holds the raw (not averaged) weights.

Lightning's ``EMAWeightAveraging`` stores the averaged weights as the checkpoint's ``state_dict`` and the
raw ones as ``current_model_state``; testing both copies measures what the average buys::

    python -m cmpe_lightning.benchmark.raw_weights runs/.../last.ckpt raw.ckpt
    cmpe test --config ... --ckpt_path raw.ckpt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    if args.output.exists():
        raise FileExistsError(f"{str(args.output)!r} exists; choose another output path.")
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    if "current_model_state" not in checkpoint:
        raise ValueError(f"{str(args.checkpoint)!r} has no raw weights: it was not trained with weight averaging.")
    checkpoint["state_dict"] = checkpoint.pop("current_model_state")
    for key in ("averaging_state", "optimizer_states", "lr_schedulers", "loops"):
        checkpoint.pop(key, None)
    # without its callback state the copy is for evaluation only, which is all it is for
    checkpoint.get("callbacks", {}).clear()
    torch.save(checkpoint, args.output)
    print(f"Wrote the raw weights of {args.checkpoint} to {args.output}")


if __name__ == "__main__":
    main()
