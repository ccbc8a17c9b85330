"""On a CUDA device: the two-moons CMPE config trains in bf16-mixed with its fp32 preconditioning, the data stay
finite, and the trained estimator draws the same on the GPU as its checkpoint loaded on the CPU draws in shape.
Skipped where there is no GPU (``-m gpu`` selects these)."""

from pathlib import Path

import pytest
import torch

from cmpe_lightning import PosteriorEstimator
from cmpe_lightning.cli import run_cli

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CONFIG = str(Path(__file__).parents[2] / "configs" / "two_moons" / "cmpe.yaml")


def test_bf16_fit_on_the_gpu_and_sampling_on_either_device(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit = run_cli(["fit", "--config", CONFIG, "--trainer.accelerator", "gpu", "--trainer.devices", "1",
                   "--trainer.precision", "bf16-mixed", "--trainer.max_steps", "50", "--trainer.enable_progress_bar",
                   "false", "--data.init_args.num_simulations", "1024"])
    assert fit.model.device.type == "cuda" and torch.isfinite(fit.trainer.callback_metrics["train/loss"])
    x = torch.zeros(3, 2, device="cuda")
    samples = fit.model.sample(x, 100, generator=torch.Generator("cuda").manual_seed(0))
    assert samples.device.type == "cuda" and samples.dtype == torch.float32 and samples.isfinite().all()
    loaded = PosteriorEstimator.load_from_checkpoint(fit.trainer.checkpoint_callback.last_model_path,
                                                     map_location="cpu")
    assert loaded.sample(x.cpu(), 100).shape == samples.shape
