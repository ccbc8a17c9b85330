"""Pair plots: a user's samples file from `cmpe predict` becomes one figure per observation."""

import numpy as np
import pytest
import torch

from cmpe_lightning.plotting import pair_plot, prior_limits
from cmpe_lightning.plotting.samples_file import main, read_samples_file


def test_pair_plot_fixes_the_axes_to_the_given_limits():
    limits = torch.tensor([[-1.0, 1.0], [-2.0, 2.0]])
    fig = pair_plot(torch.randn(300, 2) * 0.1, reference=torch.randn(300, 2) * 0.1, truth=torch.zeros(2), limits=limits)
    lower = fig.axes[2]  # row 1, column 0: theta2 against theta1
    assert lower.get_xlim() == (-1.0, 1.0) and lower.get_ylim() == (-2.0, 2.0)


def test_prior_limits_cover_the_draws():
    theta = torch.randn(10_000, 3)
    limits = prior_limits(theta)
    assert limits.shape == (3, 2) and (limits[:, 0] < -2.3).all() and (limits[:, 1] > 2.3).all()


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_samples_file_gives_one_plot_per_observation(tmp_path, suffix):
    samples, observations = torch.randn(3, 100, 2), torch.randn(3, 2)
    path = tmp_path / f"samples{suffix}"
    if suffix == ".pt":
        torch.save({"samples": samples, "observations": observations}, path)
    else:
        np.savez(path, samples=samples.numpy(), observations=observations.numpy())
    written = main([str(path), "--observations", "2", "--output", str(tmp_path / "plots")])
    assert [p.name for p in written] == ["samples_pairs_0.png", "samples_pairs_1.png"]
    assert all(p.stat().st_size > 0 for p in written)


def test_a_file_that_is_not_a_samples_file_is_named(tmp_path):
    wrong = tmp_path / "wrong.pt"
    torch.save({"observations": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ValueError, match="wrong.pt holds no 'samples'"):
        read_samples_file(wrong)
    text = tmp_path / "text.npz"
    text.write_text("not numpy")
    with pytest.raises(ValueError, match="text.npz"):
        read_samples_file(text)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        read_samples_file(tmp_path / "missing.pt")
    with pytest.raises(SystemExit) as exit_info:  # cmpe-plot: one line naming the file, exit code 2
        main([str(text)])
    assert exit_info.value.code == 2


def test_images_are_not_pair_plotted(tmp_path, capsys):
    path = tmp_path / "images.pt"
    torch.save({"samples": torch.zeros(1, 5, 1, 28, 28), "observations": torch.zeros(1, 1, 28, 28)}, path)
    assert main([str(path)]) == []
    assert "784 parameters" in capsys.readouterr().out
