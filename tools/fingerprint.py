"""A training fingerprint: the parameters after a short fit and seeded draws, to compare two code versions.

A refactoring that should not change training is checked by fingerprinting the same config with both
versions and comparing bit for bit. The script uses only ``cmpe_lightning.cli.run_cli`` and ``sample``, so
it runs against an older checkout too (run this file with that checkout first on ``PYTHONPATH``)::

    python -m tools.fingerprint configs/two_moons/acf.yaml new.pt --trainer.max_steps 100 \\
        --trainer.check_val_every_n_epoch 1 --data.init_args.num_simulations 1024
    git worktree add /tmp/old 95af021
    PYTHONPATH=/tmp/old python tools/fingerprint.py /tmp/old/configs/two_moons/acf.yaml old.pt \\
        --trainer.max_steps 100 --trainer.check_val_every_n_epoch 1 --data.init_args.num_simulations 1024
    python -m tools.fingerprint --compare old.pt new.pt

Further arguments go to ``cmpe fit``. The fit runs in a temporary folder without a logger.
"""

from __future__ import annotations

import os
import sys
import tempfile

import torch


def fingerprint(config: str, out: str, overrides: list[str]) -> None:
    from cmpe_lightning.cli import run_cli  # the version on sys.path, old or new

    config = os.path.abspath(config)
    os.chdir(tempfile.mkdtemp())
    fit = run_cli(["fit", "--config", config, "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
                   "--trainer.enable_model_summary", "false", *overrides])
    x = fit.datamodule.simulator.sample_joint(3, torch.Generator().manual_seed(5))[1]
    samples = fit.model.sample(x, 2000, generator=torch.Generator().manual_seed(7))
    val = float(fit.trainer.callback_metrics.get("val/loss", float("nan")))
    torch.save({"params": [p.detach().clone() for p in fit.model.parameters()], "samples": samples, "val": val}, out)
    print(f"{out}: {sum(p.numel() for p in fit.model.parameters())} parameters, val/loss {val:.6f}")


def compare(first: str, second: str) -> bool:
    a, b = torch.load(first), torch.load(second)
    same_shapes = [p.shape for p in a["params"]] == [q.shape for q in b["params"]]
    params = same_shapes and all(torch.equal(p, q) for p, q in zip(a["params"], b["params"]))
    samples = torch.equal(a["samples"], b["samples"])
    print(f"parameters bit-equal: {params}; samples bit-equal: {samples}; val/loss {a['val']:.6f} vs {b['val']:.6f}")
    return params and samples


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3]) else 1)
    if len(sys.argv) < 3 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    fingerprint(sys.argv[1], sys.argv[2], sys.argv[3:])
