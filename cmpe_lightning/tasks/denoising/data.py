"""The DataModule of Bayesian denoising: clean images as parameters, blurred noisy images as observations."""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ...data.observations import prediction_dataset
from ...data.resume import ResumableTrainingData
from ...data.tensors import TensorBatchDataset, batch_loader
from ...utils.checks import positive_int
from ...utils.errors import InputError
from ...utils.seeding import SPLIT, STANDARDIZATION, TEST, VALIDATION, derived_generator
from .forward_model import BlurredPoissonObservation
from .images import load_image_set


class ImageDenoisingDataModule(ResumableTrainingData, pl.LightningDataModule):
    """Posteriors over whole images: ``theta`` is a clean image in [-1, 1], ``x`` its blurred noisy version.

    Training uses the first ``num_train_images`` training images, with fresh Poisson noise every time an
    image is drawn, made on the batch's device (a GPU does that work). The 10 000 test images are split
    once by ``seed``: ``num_validation`` for validation, the rest for test, of which the first
    ``num_test_images`` are used. Validation and test noise is fixed by ``seed``, so metrics compare
    across runs. Test batches are ``{theta, x}``; prediction reads observations ``(n, 1, 28, 28)`` in the
    observation space (values in ``[0, noise_scale]``) from the file ``observations``.

    Images are found in torchvision's layout under ``root``, in ``root`` itself, or in Debian's
    ``dataset-fashion-mnist`` folder; ``download: true`` lets torchvision fetch them into ``root``.

    Args:
        dataset: ``FashionMNIST`` (the paper's), ``MNIST`` or ``KMNIST``.
        root: folder of the images (optional where Debian's package is installed).
        download: download with torchvision into ``root`` if the images are not found.
        num_train_images: training images (paper: 2 000 or 60 000).
        num_validation: validation images taken from the test set (paper: 500).
        num_test_images: test images evaluated by ``test`` (at most the test set's remaining images).
        batch_size: training and validation batch size (paper: 32 for 2 000 images, 256 for 60 000).
        blur_sigma: blur of the forward model, in pixels.
        noise_scale: factor on the noisy image before the blur.
        observations: a ``.pt``, ``.npy``, ``.npz`` or ``.csv`` file of observations for ``predict``.
        predict_batch_size: observations per prediction batch.
        num_workers: DataLoader workers for training.
        seed: the seed of the split and of the validation and test noise.

    Example:
        >>> dm = ImageDenoisingDataModule(num_train_images=100)  # doctest: +SKIP
        >>> dm.theta_shape, dm.x_shape  # doctest: +SKIP
        ((1, 28, 28), (1, 28, 28))
    """

    def __init__(
        self,
        dataset: Literal["FashionMNIST", "MNIST", "KMNIST"] = "FashionMNIST",
        root: str | None = None,
        download: bool = False,
        num_train_images: int = 2000,
        num_validation: int = 500,
        num_test_images: int = 100,
        batch_size: int = 32,
        blur_sigma: float = 2.5,
        noise_scale: float = 0.5,
        observations: str | None = None,
        predict_batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        for name, value in [("num_train_images", num_train_images), ("num_validation", num_validation),
                            ("num_test_images", num_test_images), ("batch_size", batch_size),
                            ("predict_batch_size", predict_batch_size)]:
            positive_int(value, name)
        self.dataset, self.root, self.download = dataset, root, download
        self.num_train_images, self.num_validation, self.num_test_images = (
            num_train_images, num_validation, num_test_images
        )
        self.batch_size, self.predict_batch_size, self.num_workers = batch_size, predict_batch_size, num_workers
        self.observations, self.seed = observations, seed
        self.forward_model = BlurredPoissonObservation(blur_sigma, noise_scale)
        self.theta_shape = self.x_shape = (1, 28, 28)
        self._images: dict[str, Tensor] | None = None
        self._datasets: dict[str, TensorBatchDataset] = {}

    # ---------------------------------------------------------------------------------------------- sets
    def prepare_data(self) -> None:
        if self.download:  # once per node, before setup; a no-op where the images exist
            load_image_set(self.dataset, self.root, download=True)

    def images(self) -> dict[str, Tensor]:
        """``train``, ``val`` and ``test`` clean images ``(n, 1, 28, 28)`` in [0, 1]."""
        if self._images is None:
            raw = load_image_set(self.dataset, self.root, download=False)
            train, test = raw["train"], raw["test"]
            if self.num_train_images > len(train):
                raise InputError(f"num_train_images={self.num_train_images}, but {self.dataset} has {len(train)}"
                                 " training images.")
            available = len(test) - self.num_validation
            if available < 1 or self.num_test_images > available:
                raise InputError(
                    f"num_validation={self.num_validation} and num_test_images={self.num_test_images} do not fit in the"
                    f" {len(test)} test images of {self.dataset}."
                )
            order = torch.randperm(len(test), generator=derived_generator(self.seed, SPLIT))
            val, rest = order[: self.num_validation], order[self.num_validation:]
            scale = lambda images: images[:, None].float() / 255  # noqa: E731
            self._images = {"train": scale(train[: self.num_train_images]), "val": scale(test[val]),
                            "test": scale(test[rest[: self.num_test_images]])}
        return self._images

    def simulate(self, images: Tensor, purpose: int | None = None) -> tuple[Tensor, Tensor]:
        """``(theta, x)`` for clean images, with noise fixed by ``(seed, purpose)`` or, for ``None``, fresh."""
        generator = None if purpose is None else derived_generator(self.seed, purpose, device=images.device)
        return self.forward_model(images, generator)

    def setup(self, stage: str) -> None:
        images = self.images()
        if stage == "fit" and "train" not in self._datasets:
            self._datasets["train"] = TensorBatchDataset((images["train"],))
        if stage in ("fit", "validate") and "val" not in self._datasets:
            self._datasets["val"] = TensorBatchDataset(self.simulate(images["val"], VALIDATION))
        if stage == "test" and "test" not in self._datasets:
            theta, x = self.simulate(images["test"], TEST)
            self._datasets["test"] = TensorBatchDataset({"theta": theta, "x": x})
        if stage == "predict":
            self._datasets["predict"] = prediction_dataset(self.observations, self.x_shape)

    @property
    def theta_dim(self) -> int:
        return 28 * 28

    @property
    def num_training_pairs(self) -> int:
        """Training images (each epoch draws their observations anew), for the default recipe's training length."""
        return self.num_train_images

    def training_data(self, num: int = 10_000) -> tuple[Tensor, Tensor]:
        """Up to ``num`` training pairs (one noise draw each) to fit the estimator's standardization on."""
        return self.simulate(self.images()["train"][:num], STANDARDIZATION)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        # training batches hold clean images only: the noise is drawn here, fresh, on the batch's device
        if isinstance(batch, tuple) and len(batch) == 1:
            return self.forward_model(batch[0])
        return batch

    # ------------------------------------------------------------------------------------------- loaders
    def train_dataloader(self) -> DataLoader:
        return self.resumable(batch_loader(self._datasets["train"], self.batch_size, shuffle_seed=self.seed,
                                           num_workers=self.num_workers))

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self._datasets["val"], self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return batch_loader(self._datasets["test"], self.batch_size)

    def predict_dataloader(self) -> DataLoader:
        return batch_loader(self._datasets["predict"], self.predict_batch_size)
