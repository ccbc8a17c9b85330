"""The Fashion-MNIST denoising task: the forward model against scikit-image and scipy, the image files, the
DataModule, the U-Net and the image metrics (the image configs end to end: integration/test_image_configs.py)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from support import write_idx

from cmpe_lightning.metrics import MMD, IntervalCoverage, PosteriorMeanImageQuality, PosteriorRMSE
from cmpe_lightning.networks import ConditionalUNet, build_backbone
from cmpe_lightning.tasks.denoising import ImageDenoisingDataModule, gaussian_blur, load_image_set, poisson_noise
from cmpe_lightning.tasks.denoising.images import DEBIAN, read_idx_images

HAVE_DEBIAN_FILES = Path(DEBIAN["FashionMNIST"][1], "t10k-images-idx3-ubyte.gz").is_file()


# ------------------------------------------------------------------------------------------- forward model
def test_poisson_noise_matches_scikit_image_statistically():
    skimage_util = pytest.importorskip("skimage.util")
    rng = np.random.default_rng(1)
    image = rng.choice(np.linspace(0, 1, 100), size=(28, 28))  # 100 distinct values: V = 128
    reps = 4000
    ours = poisson_noise(torch.tensor(image).expand(reps, 1, 28, 28).contiguous(), torch.Generator().manual_seed(0))
    theirs = np.stack([skimage_util.random_noise(image, mode="poisson", rng=int(seed)) for seed in range(reps)])
    ours = ours[:, 0].numpy()
    # the same lattice of values (multiples of 1 / V) ...
    np.testing.assert_allclose(np.unique(np.round(ours * 128, 6)) % 1, 0, atol=1e-6)
    np.testing.assert_allclose(np.unique(np.round(theirs * 128, 6)) % 1, 0, atol=1e-6)
    # ... the same mean and variance per pixel, within the Monte Carlo error of 4 000 replicates
    np.testing.assert_allclose(ours.mean(0), theirs.mean(0), atol=5 * np.sqrt(2 * image.max() / 128 / reps))
    var_ours, var_theirs = ours.var(0), theirs.var(0)
    inner = (image > 0.1) & (image < 0.9)  # away from the clipping at 0 and 1
    assert np.abs(var_ours[inner] / var_theirs[inner] - 1).mean() < 0.05
    np.testing.assert_allclose(var_ours[inner].mean(), (image[inner] / 128).mean(), rtol=0.05)


def test_poisson_levels_follow_the_number_of_distinct_values():
    image = torch.tensor([0.0, 0.5, 1.0]).repeat(10)[None]  # 3 distinct values: V = 4
    noisy = poisson_noise(image.expand(200, 30), torch.Generator().manual_seed(0))
    assert torch.allclose(noisy * 4, (noisy * 4).round())
    assert noisy.min() >= 0 and noisy.max() <= 1


@pytest.mark.parametrize("sigma", [0.7, 2.5])
def test_blur_matches_scipy(sigma):
    images = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    expected = np.stack([gaussian_filter(image[0], sigma, mode="nearest", truncate=4.0) for image in images.numpy()])
    np.testing.assert_allclose(gaussian_blur(images, sigma)[:, 0].numpy(), expected, atol=1e-10)


def test_blur_rejects_non_images():
    with pytest.raises(ValueError, match="batch, channels, height, width"):
        gaussian_blur(torch.rand(28, 28), 2.5)


# ------------------------------------------------------------------------------------------------- files
def test_idx_files_are_read_gzipped_or_not(tmp_path):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    for compress, name in [(True, "a.gz"), (False, "b")]:
        write_idx(tmp_path / name, images, compress)
        assert torch.equal(read_idx_images(tmp_path / name), torch.tensor(images, dtype=torch.uint8))


def test_truncated_or_foreign_idx_files_are_named(tmp_path):
    (tmp_path / "text").write_text("not an image file at all")
    with pytest.raises(ValueError, match="text.*not an IDX file"):
        read_idx_images(tmp_path / "text")
    (tmp_path / "plain.gz").write_text("not gzipped")
    with pytest.raises(ValueError, match="plain.gz"):
        read_idx_images(tmp_path / "plain.gz")
    write_idx(tmp_path / "cut", np.zeros((5, 28, 28)), compress=False)
    (tmp_path / "cut").write_bytes((tmp_path / "cut").read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx_images(tmp_path / "cut")


def test_missing_images_name_both_ways_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setitem(DEBIAN, "FashionMNIST", ("dataset-fashion-mnist", str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError) as error:
        load_image_set("FashionMNIST", tmp_path)
    assert "download: true" in str(error.value) and "apt-get install dataset-fashion-mnist" in str(error.value)
    with pytest.raises(ValueError, match="CIFAR"):
        load_image_set("CIFAR")


@pytest.mark.skipif(not HAVE_DEBIAN_FILES, reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_debian():
    images = load_image_set("FashionMNIST")
    assert images["train"].shape == (60000, 28, 28) and images["test"].shape == (10000, 28, 28)
    dm = ImageDenoisingDataModule(num_train_images=2000, num_test_images=100)
    dm.setup("test")
    theta, x = dm._datasets["test"].tensors["theta"], dm._datasets["test"].tensors["x"]
    assert theta.shape == x.shape == (100, 1, 28, 28)
    assert theta.min() >= -1 and theta.max() <= 1 and x.min() >= 0 and x.max() <= 0.5
    # blurred and noisy, the observation still resembles its image: the trivial estimate beats the mean image
    trivial = (4 * x - 1 - theta).square().mean().sqrt()
    mean_image = (theta.mean(0) - theta).square().mean().sqrt()
    assert trivial < mean_image


# ---------------------------------------------------------------------------------------------- DataModule
def test_split_and_noise(image_root):
    dm = ImageDenoisingDataModule(root=str(image_root), num_train_images=50, num_validation=8, num_test_images=30)
    dm.setup("fit")
    dm.setup("test")
    ids = {name: set(((images[:, 0, 0, 0] * 255).round()).int().tolist()) for name, images in dm.images().items()}
    assert ids["train"] == set(range(50)) and not ids["val"] & ids["test"] and len(ids["val"] | ids["test"]) == 38
    # validation and test noise is fixed by the seed; training noise is fresh at every draw
    again = ImageDenoisingDataModule(root=str(image_root), num_train_images=50, num_validation=8, num_test_images=30)
    again.setup("fit")
    assert torch.equal(dm._datasets["val"].tensors[1], again._datasets["val"].tensors[1])
    (clean,) = dm._datasets["train"].__getitems__(list(range(4)))
    (theta1, x1), (theta2, x2) = (dm.on_after_batch_transfer((clean,), 0) for _ in range(2))
    assert torch.equal(theta1, theta2) and not torch.equal(x1, x2)
    assert theta1.min() >= -1 and x1.max() <= 0.5


def test_datamodule_rejects_impossible_sizes(image_root):
    with pytest.raises(ValueError, match="num_train_images=100"):
        ImageDenoisingDataModule(root=str(image_root), num_train_images=100).images()
    with pytest.raises(ValueError, match="num_test_images=99"):
        ImageDenoisingDataModule(root=str(image_root), num_train_images=60, num_validation=8,
                                 num_test_images=99).images()
    with pytest.raises(ValueError, match="batch_size"):
        ImageDenoisingDataModule(batch_size=0)


# ------------------------------------------------------------------------------------------------- U-Net
def test_unet_contract_zero_start_and_learning():
    net = build_backbone(lambda shape, c: ConditionalUNet(shape, c, channels=(8, 16), attention_levels=(1,)),
                         (1, 28, 28), 5)
    theta, t, context = torch.randn(4, 1, 28, 28), torch.rand(4), torch.randn(4, 5)
    assert torch.equal(net(theta, t, context), torch.zeros(4, 1, 28, 28))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        (net(theta, t, context) - theta).square().mean().backward()
        optimizer.step()
    out = net(theta, t, context)
    assert out.abs().max() > 0 and not torch.equal(out, net(theta, t, torch.randn(4, 5)))  # the context matters


def test_unet_rejects_flat_parameters_and_missing_levels():
    with pytest.raises(ValueError, match="image-shaped"):
        ConditionalUNet((784,), 5)
    with pytest.raises(ValueError, match="attention_levels"):
        ConditionalUNet((1, 28, 28), 5, channels=(8, 16), attention_levels=(2,))


def test_summary_runs_once_per_observation_and_draws_are_clipped():
    from cmpe_lightning import ConsistencyPosteriorEstimator
    from cmpe_lightning.tasks.denoising import ImageSummary

    summary = ImageSummary(channels=(4, 4), out_features=8)
    calls = []
    summary.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    est = ConsistencyPosteriorEstimator(
        (1, 28, 28), (1, 28, 28), backbone=lambda s, c: ConditionalUNet(s, c, channels=(8,), attention_levels=()),
        summary_network=summary, t_max=200.0, sigma_data=0.5, num_steps=2, clip=(-1.01, 1.01),
        theta_standardization="none")
    calls.clear()  # construction dry-runs the summary network
    samples = est.sample(torch.rand(3, 1, 28, 28) / 2, 50, max_batch_size=40)  # 4 chunks of draws
    assert samples.shape == (3, 50, 1, 28, 28) and calls == [3]
    assert samples.abs().max() <= 1.01
    generator = torch.Generator().manual_seed(0)
    narrow = est.sample(torch.rand(2, 1, 28, 28) / 2, 5, generator, clip=(-0.01, 0.01))
    free = est.sample(torch.rand(2, 1, 28, 28) / 2, 5, torch.Generator().manual_seed(0), clip=(-1e9, 1e9))
    assert narrow.abs().max() <= 0.01 < free.abs().max()
    with pytest.raises(ValueError, match="clip"):
        est.sample(torch.rand(1, 1, 28, 28), 2, clip=(1.0, -1.0))


# ----------------------------------------------------------------------------------------------- metrics
def test_image_metrics():
    truth = torch.rand(6, 1, 28, 28) * 2 - 1
    draws = truth[:, None] + 0.1 * torch.randn(6, 50, 1, 28, 28)
    rmse, mean_rmse = PosteriorRMSE(), PosteriorRMSE(of_mean=True)
    for metric in (rmse, mean_rmse):
        metric.update(draws, truth)
    assert abs(float(rmse.compute()) - 0.1) < 0.005 and float(mean_rmse.compute()) < 0.03
    assert (rmse.name, mean_rmse.name) == ("rmse", "posterior_mean_rmse")
    psnr = PosteriorMeanImageQuality("psnr")
    psnr.update(draws, truth)
    assert float(psnr.compute()) > 30
    coverage = IntervalCoverage(0.9)
    coverage.update(draws, truth + 0.1 * torch.randn_like(truth))
    assert abs(float(coverage.compute()) - 0.9) < 0.05 and coverage.name == "coverage_90"
    mmd = MMD()
    mmd.update(draws, truth)
    far = MMD()
    far.update(draws + 1, truth)
    assert float(mmd.compute()) < 0.1 < float(far.compute())  # unbiased: about 0 for a correct posterior


def test_image_quality_needs_images():
    with pytest.raises(ValueError, match="image parameters"):
        PosteriorMeanImageQuality("ssim").update(torch.zeros(2, 3, 4), torch.zeros(2, 4))
