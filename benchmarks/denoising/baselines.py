"""Point estimates that need no training, on the denoising task's test images: the bar a posterior must clear.

Usage::

    python -m benchmarks.denoising.baselines [--num-test-images 100] [--seed 0]

Reports the RMSE (per image over its 784 pixels, averaged over images) of two estimates of the clean image:
the observation rescaled to [-1, 1] (``4 x - 1``, clipped; the blur is left in) and the mean training image.
The test images and their noise are those of ``cmpe test`` with the same ``num_test_images`` and ``seed``.
"""

from __future__ import annotations

import argparse

import torch

from cmpe_lightning.tasks.denoising import ImageDenoisingDataModule


def per_image_rmse(estimate: torch.Tensor, theta: torch.Tensor) -> float:
    return float((estimate - theta).flatten(1).square().mean(1).sqrt().mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="FashionMNIST")
    parser.add_argument("--root", default=None)
    parser.add_argument("--num-train-images", type=int, default=2000)
    parser.add_argument("--num-test-images", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dm = ImageDenoisingDataModule(args.dataset, args.root, num_train_images=args.num_train_images,
                                  num_test_images=args.num_test_images, seed=args.seed)
    dm.setup("test")
    test = dm._datasets["test"].tensors
    theta, x = test["theta"], test["x"]
    scale = dm.forward_model.noise_scale
    rescaled = (2 * x / scale - 1).clamp(-1, 1)
    mean_image = (2 * dm.images()["train"] - 1).mean(0)
    print(f"{args.dataset}, {len(theta)} test images (seed {args.seed})")
    print("| point estimate | RMSE |")
    print("|---|---|")
    print(f"| observation rescaled to [-1, 1] | {per_image_rmse(rescaled, theta):.3f} |")
    print(f"| mean of the {args.num_train_images} training images | {per_image_rmse(mean_image, theta):.3f} |")


if __name__ == "__main__":
    main()
