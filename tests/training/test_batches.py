"""Training batches: a pure function of (seed, step), whichever process makes them; NHWC computes the same loss."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch

from vitiseg.segmentation.artifact import InputNorm, build_network
from vitiseg.training import data as ds
from vitiseg.training.batches import Sampler, batches, network_input
from vitiseg.training.loss import partial_loss

from helpers import tiny_train_config


def test_loader_processes_give_the_same_batches(proc_dataset: Path) -> None:
    cfg = tiny_train_config(proc_dataset)
    sampler = Sampler(cfg, {s.name: ds.list_samples(s) for s in cfg.data.sources})
    steps = range(5, 11)
    here = list(batches(sampler, steps, 0, False))
    spawned = list(batches(sampler, steps, 2, False))
    assert len(here) == len(spawned) == 6
    for (xa, ta), (xb, tb) in zip(here, spawned):
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
    x, t = here[0]
    assert x.shape == (4, 64, 64, 3) and x.dtype == torch.uint8 and t.shape == (4, 64, 64) and t.dtype == torch.uint8
    assert not torch.equal(here[0][0], here[1][0])  # batches differ from step to step
    assert torch.equal(sampler.batch(5)[0], here[0][0])  # the sampler's own batch of that step


def test_network_input_scales_and_lays_out_channels() -> None:
    x = torch.tensor([[[[0, 128, 255]]]], dtype=torch.uint8)  # (1, 1, 1, 3) NHWC
    y = network_input(x, InputNorm(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
    assert y.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(y.flatten().tolist(), [-2.0, (128 / 255 - 0.5) / 0.25, 2.0], rtol=1e-4)


def test_channels_last_layout_computes_the_same_loss_and_gradients(proc_dataset: Path) -> None:
    """NHWC is a memory layout: one training step's loss and gradients equal the NCHW ones up to float rounding.
    (Whole runs drift apart: Adam turns rounding-level gradient differences into lr-sized steps.)"""
    cfg = tiny_train_config(proc_dataset)
    sampler = Sampler(cfg, {s.name: ds.list_samples(s) for s in cfg.data.sources})
    x, t = sampler.batch(0)
    torch.manual_seed(0)
    nchw = build_network(cfg.architecture).train()
    nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
    inp = network_input(x, cfg.input_norm)
    la, _ = partial_loss(nchw(inp), t, cfg.loss)
    lb, _ = partial_loss(nhwc(inp.contiguous(memory_format=torch.channels_last)), t, cfg.loss)
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-6)
    for (name, pa), (_, pb) in zip(nchw.named_parameters(), nhwc.named_parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-3, atol=1e-5, msg=name)
