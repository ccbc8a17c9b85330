"""Every posterior metric gathered over 2 CPU processes (gloo) equals the single-process value on the same data."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cmpe_lightning.metrics import (
    C2ST,
    MMD,
    SBC,
    TARP,
    CalibrationError,
    JointC2ST,
    PosteriorContraction,
    PosteriorRMSE,
    PosteriorZScore,
    StandardizedDrawError,
)


def metrics():
    return [CalibrationError(), SBC(), TARP(), JointC2ST(), PosteriorRMSE(), PosteriorZScore(), PosteriorContraction(),
            C2ST(), MMD(), StandardizedDrawError(), StandardizedDrawError("rmse")]


def data():
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(96, 2, generator=g)
    x = theta + 0.5 * torch.randn(96, 2, generator=g)
    samples = x[:, None] / 1.25 + 0.45 * torch.randn(96, 200, 2, generator=g)
    reference = x[:, None] / 1.25 + 0.45 * torch.randn(96, 200, 2, generator=g)
    return samples, theta, reference, x


def computed(rows):
    samples, theta, reference, x = data()
    values = {}
    for metric in metrics():
        for chunk in range(rows.start, rows.stop, 16):  # the rank's share in test-loop batches
            part = slice(chunk, min(chunk + 16, rows.stop))
            extra = {"x": x[part]} if metric.requires_observations else {}
            metric.update(samples[part], theta[part], reference[part], **extra)
        values[metric.name] = float(metric.compute())
    return values


def worker(rank, port, queue):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        queue.put((rank, computed(range(48 * rank, 48 * (rank + 1)))))
    finally:
        dist.destroy_process_group()


def test_two_processes_gather_to_the_single_process_value():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=worker, args=(rank, port, queue)) for rank in range(2)]
    for p in processes:
        p.start()
    results = dict(queue.get(timeout=300) for _ in processes)
    for p in processes:
        p.join(timeout=60)
    single = computed(range(96))
    assert results[0] == results[1]  # every rank logs the same, gathered value
    for name, value in single.items():
        # the order of gathered rows differs from the single process's only for jittered ranks and draw picks
        assert results[0][name] == pytest.approx(value, abs=1e-6), name
