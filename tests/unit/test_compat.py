"""Each use of Lightning's private API (cmpe_lightning.compat) against the installed Lightning: when an upgrade
renames or changes one, the test of that one fails and says which."""

from __future__ import annotations

import inspect

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.cli import LightningCLI

from cmpe_lightning import compat


def test_every_private_name_still_exists():
    from lightning.pytorch.core.mixins import hparams_mixin

    assert callable(getattr(hparams_mixin, "_given_hyperparameters_context", None)), "hparams_mixin changed"
    for name in compat.PRIVATE["lightning.pytorch.cli.LightningCLI"]:
        assert callable(getattr(LightningCLI, name, None)), f"LightningCLI.{name} is gone"
    parameters = list(inspect.signature(LightningCLI._prepare_subcommand_parser).parameters)
    assert parameters[:3] == ["self", "klass", "subcommand"], parameters
    assert list(inspect.signature(LightningCLI._parse_ckpt_path).parameters) == ["self"]


class Tiny(pl.LightningModule):
    def __init__(self, width: int = 2):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(width, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_given_hyperparameters_are_what_the_module_records():
    with compat.given_hyperparameters({"width": 3, "_class_path": "somewhere.Tiny"}):
        module = Tiny(width=3)
    assert module.hparams["_class_path"] == "somewhere.Tiny" and module.hparams["width"] == 3
    assert module.hparams["_instantiator"] == "lightning.pytorch.cli.instantiate_module"
    assert "_class_path" not in Tiny().hparams  # outside the context: the usual hyperparameters


class Probe(pl.Callback):
    """Reads the position at every batch and shortens the fit at its start, as the recipe and exact resume do."""

    def __init__(self):
        self.positions = []

    def on_train_start(self, trainer, pl_module):
        compat.set_max_steps(trainer, 3)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.positions.append(compat.batches_trained_in_epoch(trainer))
        self.writes = getattr(self, "writes", []) + [compat.logger_writes_this_step(trainer)]


def test_position_and_max_steps_of_a_running_fit():
    probe = Probe()
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(40, 2)), batch_size=4)
    trainer = pl.Trainer(max_steps=100, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[probe], log_every_n_steps=2)
    trainer.fit(Tiny(), data)
    assert trainer.global_step == 3, "set_max_steps no longer shortens a running fit"
    assert probe.positions == [0, 1, 2], "batches_trained_in_epoch no longer counts the epoch's batches"
    assert probe.writes == [False, True, False], "logger_writes_this_step no longer follows log_every_n_steps"


class NamesHooks(Tiny):
    """Reads the attribute Lightning names the running hook with, written by the lean mixin."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append(getattr(self, compat.HOOK_NAME_ATTRIBUTE))
        return super().training_step(batch, batch_idx)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.seen.append(getattr(self, compat.HOOK_NAME_ATTRIBUTE))


def test_lightning_names_the_running_hook_with_the_attribute_the_lean_mixin_writes():
    from cmpe_lightning.estimators.lean_loop import LeanLoop

    class Lean(LeanLoop, NamesHooks):
        pass

    for module in (NamesHooks(), Lean()):
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=4)
        pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False).fit(module, data)
        assert module.seen == ["training_step", "on_train_batch_end"] * 2, module.seen
        assert compat.HOOK_NAME_ATTRIBUTE not in module._modules and compat.HOOK_NAME_ATTRIBUTE not in module._buffers


def test_checkpoint_due_reads_what_model_checkpoint_decides_with(tmp_path):
    from datetime import timedelta

    from cmpe_lightning.callbacks.checkpoint_files import LastCheckpoint

    every = pl.callbacks.ModelCheckpoint(every_n_train_steps=3)
    assert [compat.checkpoint_due(every, step) for step in (3, 4, 6)] == [True, False, True]
    assert compat.checkpoint_due(pl.callbacks.ModelCheckpoint(train_time_interval=timedelta(seconds=1)), 4)
    assert not compat.checkpoint_due(pl.callbacks.ModelCheckpoint(every_n_train_steps=0), 3)
    saves = []
    checkpoint = LastCheckpoint(dirpath=tmp_path, every_n_train_steps=3)

    def save_last(trainer, candidates):
        saves.append(trainer.global_step)
        checkpoint._last_global_step_saved = trainer.global_step

    checkpoint._save_last_checkpoint = save_last
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(40, 2)), batch_size=4)
    pl.Trainer(max_steps=7, logger=False, enable_progress_bar=False, enable_model_summary=False,
               callbacks=[checkpoint]).fit(Tiny(), data)
    assert [step for step in saves if step < 7] == [3, 6] and saves[-1] == 7, saves  # every third step, the last


def test_weight_averaging_keeps_the_attributes_ema_updates():
    from lightning.pytorch.callbacks import WeightAveraging

    from cmpe_lightning.callbacks import EMA

    ema = EMA()
    assert hasattr(ema, "_latest_update_step") and hasattr(ema, "_use_buffers")
    trainer = pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[ema])
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=4)
    trainer.fit(Tiny(), data)
    assert isinstance(ema, WeightAveraging) and int(ema._average_model.n_averaged) == 2 and ema._latest_update_step == 2


@pytest.mark.parametrize("subcommand", ["fit", "predict"])
def test_the_cli_hooks_run(subcommand, monkeypatch):
    seen = {}

    class Recording(compat.HookedLightningCLI):
        def add_arguments_to_parser(self, parser):
            seen.setdefault("building", []).append(self.building_subcommand)
            parser.add_argument("--probe", type=int, default=0)

        def before_checkpoint_hyperparameters(self):
            seen["ckpt"] = self.config.get("probe")

    cli = Recording(Tiny, args=["--probe", "7"], run=False, save_config_callback=None)
    assert seen["building"] == [None] and seen["ckpt"] == 7 and cli.building_subcommand is None
    assert compat.config_value(cli, cli.config, "probe") == 7 and compat.config_value(cli, cli.config, "nope", 1) == 1
    seen.clear()
    with pytest.raises(SystemExit):  # a subcommand's parser is built as that subcommand's, then --help exits
        Recording(Tiny, args=[subcommand, "--help"], save_config_callback=None)
    assert subcommand in seen["building"] and None not in seen["building"]
