"""``compile_backbone``: the fit compiles CMPE's backbone in place, trains, and writes the same checkpoint keys."""

from pathlib import Path

import torch

from cmpe_lightning.cli import run_cli

CONFIG = str(Path(__file__).parents[2] / "configs" / "two_moons" / "cmpe.yaml")
SMALL = ["--trainer.max_steps", "4", "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary",
         "false", "--trainer.logger", "false", "--data.init_args.num_simulations", "256",
         "--trainer.limit_val_batches", "0"]


def test_compiled_backbone_trains_and_keeps_the_checkpoint_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = run_cli(["--config", CONFIG, *SMALL], run=False)
    compiled = run_cli(["fit", "--config", CONFIG, *SMALL, "--model.init_args.compile_backbone", "true",
                        "--trainer.default_root_dir", str(tmp_path)])
    network = compiled.model.consistency_function.network
    assert network._compiled_call_impl is not None  # nn.Module.compile's mark (torch has no public one)
    assert type(network).__name__ == "ConditionalMLP"  # compiled in place: the module, not a wrapper
    assert compiled.trainer.global_step == 4
    assert set(compiled.model.state_dict()) == set(plain.model.state_dict())
    assert all(torch.isfinite(p).all() for p in compiled.model.parameters())
