import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cmpe_lightning import SimulationDataModule, TwoMoons
from cmpe_lightning.data import OnlineSimulationDataset, load_observations
from cmpe_lightning.data.online import EpochCountingLoader


def first_batches(loader, num=2):
    batches = []
    for batch in loader:
        batches.append(batch[1])
        if len(batches) == num:
            return torch.stack(batches)


def test_online_stream_is_reproducible_and_distinct_across_epochs():
    loaders = [EpochCountingLoader(OnlineSimulationDataset(TwoMoons(), 8, seed=3)) for _ in range(2)]
    epochs = [[first_batches(loader) for _ in range(3)] for loader in loaders]
    for e in range(3):
        assert torch.equal(epochs[0][e], epochs[1][e])  # same seed, same stream
    assert not torch.equal(epochs[0][0], epochs[0][1]) and not torch.equal(epochs[0][1], epochs[0][2])


def test_online_stream_is_distinct_across_workers_and_epochs():
    loader = EpochCountingLoader(OnlineSimulationDataset(TwoMoons(), 8, seed=3), num_workers=2)
    # workers deliver batches in turn: batch 0 from worker 0, batch 1 from worker 1
    epoch1, epoch2 = first_batches(loader), first_batches(loader)
    assert not torch.equal(epoch1[0], epoch1[1])
    assert not torch.equal(epoch1, epoch2)


def _rank_first_batch(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        batch = first_batches(EpochCountingLoader(OnlineSimulationDataset(TwoMoons(), 8, seed=3)), num=1)
        gathered = [torch.zeros_like(batch) for _ in range(world_size)]
        dist.all_gather(gathered, batch)
        torch.save(torch.stack(gathered), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_online_stream_is_distinct_across_ddp_ranks(tmp_path):
    mp.spawn(_rank_first_batch, args=(2, 29517, str(tmp_path)), nprocs=2, join=True)
    gathered = torch.load(tmp_path / "rank0.pt")
    assert torch.equal(gathered, torch.load(tmp_path / "rank1.pt"))  # both ranks saw the same all_gather
    assert not torch.equal(gathered[0], gathered[1])


def test_fixed_budget_and_evaluation_sets_depend_only_on_the_seed():
    a, b = (SimulationDataModule(TwoMoons(), num_simulations=100, num_validation=10, seed=4) for _ in range(2))
    for dm in (a, b):
        dm.setup("fit")
    assert all(torch.equal(u, v) for u, v in zip(a.training_data(), b.training_data()))
    assert torch.equal(next(iter(a.val_dataloader()))[1], next(iter(b.val_dataloader()))[1])
    c = SimulationDataModule(TwoMoons(), num_simulations=100, num_validation=10, seed=5)
    c.setup("fit")
    assert not torch.equal(a.training_data()[1], c.training_data()[1])
    assert a.theta_shape == (2,) and a.x_shape == (2,)


def test_fixed_budget_reshuffles_every_epoch():
    dm = SimulationDataModule(TwoMoons(), num_simulations=64, batch_size=64)
    dm.setup("fit")
    loader = dm.train_dataloader()
    first, again = next(iter(loader))[0], next(iter(loader))[0]
    assert torch.equal(first, again)  # the order is a function of (seed, epoch)
    loader.sampler.set_epoch(1)  # as Lightning does at every epoch
    second = next(iter(loader))[0]
    assert not torch.equal(first, second)
    assert torch.equal(first[first[:, 0].argsort()], second[second[:, 0].argsort()])  # same budget, new order


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mode must be 'fixed' or 'online', got 'offline'"):
        SimulationDataModule(TwoMoons(), mode="offline")
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        SimulationDataModule(TwoMoons(), batch_size=0)
    with pytest.raises(ValueError, match="predict needs observations"):
        SimulationDataModule(TwoMoons()).setup("predict")


@pytest.mark.parametrize("suffix", [".pt", ".npy", ".csv"])
def test_observation_files_round_trip(tmp_path, suffix):
    x = torch.randn(3, 10, 2)
    path = tmp_path / f"obs{suffix}"
    if suffix == ".pt":
        torch.save(x, path)
    elif suffix == ".npy":
        import numpy as np

        np.save(path, x.numpy())
    else:
        path.write_text("\n".join(",".join(f"{v:.9g}" for v in row) for row in x.flatten(1).tolist()))
    assert torch.allclose(load_observations(path, (10, 2)), x, atol=1e-6)


def test_bad_observation_files_are_reported(tmp_path):
    bad_shape = tmp_path / "bad.pt"
    torch.save(torch.zeros(3, 3), bad_shape)
    with pytest.raises(ValueError, match=r"bad.pt' have shape \(3, 3\); expected \(n, 2\)"):
        load_observations(bad_shape, (2,))
    nan = tmp_path / "nan.pt"
    torch.save(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), nan)
    with pytest.raises(ValueError, match=r"nan.pt' contain NaN or inf in rows \[0\]"):
        load_observations(nan, (2,))
    garbage = tmp_path / "garbage.npy"
    garbage.write_text("not an array")
    with pytest.raises(ValueError, match="garbage.npy' is not a NumPy .npy file"):
        load_observations(garbage, (2,))
    with pytest.raises(ValueError, match="unknown suffix '.txt'"):
        (tmp_path / "obs.txt").write_text("1,2")
        load_observations(tmp_path / "obs.txt", (2,))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_observations(tmp_path / "missing.pt", (2,))


def test_observations_of_named_parts(tmp_path):
    import numpy as np

    shape = {"curve": (4,), "image": (2, 3)}
    parts = {"curve": np.random.rand(5, 4), "image": np.random.rand(5, 2, 3)}
    np.savez(tmp_path / "obs.npz", **parts)
    torch.save({"observations": {k: torch.from_numpy(v) for k, v in parts.items()}}, tmp_path / "obs.pt")
    for name in ("obs.npz", "obs.pt"):
        x = load_observations(tmp_path / name, shape)
        assert all(torch.allclose(x[k], torch.from_numpy(v).float()) for k, v in parts.items())
    with pytest.raises(ValueError, match=r"must hold the parts \['curve', 'image'\], found \['curve'\]"):
        np.savez(tmp_path / "part.npz", curve=parts["curve"])
        load_observations(tmp_path / "part.npz", shape)
    with pytest.raises(ValueError,
                       match=r"have shape \(5, 3\); expected \{curve: \(n, 4\), image: \(n, 2, 3\)\} \(part 'curve'\)"):
        np.savez(tmp_path / "short.npz", curve=np.zeros((5, 3)), image=parts["image"])
        load_observations(tmp_path / "short.npz", shape)
    with pytest.raises(ValueError, match="without the key 'observations'"):
        torch.save({"x": torch.zeros(2, 4)}, tmp_path / "keyless.pt")
        load_observations(tmp_path / "keyless.pt", (4,))


def test_a_simulator_without_reference_posterior_gives_a_test_set_without_one():
    class NoReference(TwoMoons):
        def sample_reference_posterior(self, x, num_samples, generator):
            raise NotImplementedError

    dm = SimulationDataModule(NoReference(), num_test_observations=3)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    assert set(batch) == {"theta", "x"} and batch["x"].shape == (1, 2)


def test_cache_folder_moves_with_environment_variables(tmp_path, monkeypatch):
    from cmpe_lightning.data.reference_cache import default_cache_folder

    monkeypatch.delenv("CMPE_LIGHTNING_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_folder() == tmp_path / "xdg" / "cmpe_lightning" / "references"
    monkeypatch.setenv("CMPE_LIGHTNING_CACHE", str(tmp_path / "mine"))  # wins over XDG_CACHE_HOME
    assert default_cache_folder() == tmp_path / "mine" / "references"
    SimulationDataModule(TwoMoons(), num_test_observations=2, num_reference_samples=20).setup("test")
    assert len(list((tmp_path / "mine" / "references").glob("*.pt"))) == 1 and not (tmp_path / "xdg").exists()


def test_reference_posterior_is_computed_once(tmp_path, monkeypatch):
    def make(seed=0):
        return SimulationDataModule(TwoMoons(), num_test_observations=2, num_reference_samples=50, seed=seed,
                                    reference_cache=str(tmp_path))

    first = make()
    first.setup("test")
    assert len(list(tmp_path.glob("*.pt"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the reference posterior was sampled again")

    monkeypatch.setattr(TwoMoons, "sample_reference_posterior", refuse)
    second = make()
    second.setup("test")  # read from the cache
    for key in ("theta", "x", "reference"):
        assert torch.equal(first._datasets["test"].tensors[key], second._datasets["test"].tensors[key])
    with pytest.raises(AssertionError, match="sampled again"):
        make(seed=1).setup("test")  # another seed is another test set
    (cache_file,) = tmp_path.glob("*.pt")
    cache_file.write_bytes(b"truncated")
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="unreadable cache file"):
        make().setup("test")
