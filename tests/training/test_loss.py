"""The partial-label loss (exact values) and the learning-rate schedule."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch

from vitiseg.training import data as ds
from vitiseg.training.config import LossConfig, OptimConfig
from vitiseg.training.loss import partial_loss, small_lesion_weights
from vitiseg.training.schedule import lr_at


def test_partial_loss_ignores_unknown_and_respects_sets() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    allowed = torch.full((1, 4, 4), ds.UNKNOWN, dtype=torch.uint8)
    allowed[0, 0, 0] = ds.DEPIG_BIT
    loss, _ = partial_loss(logits, allowed, LossConfig(dice_weight=0.0))
    loss.backward()
    g = logits.grad[0].abs().sum(0)
    assert g[0, 0] > 0 and float(g.sum() - g[0, 0]) == 0.0  # unknown pixels get no gradient
    expected = -float(torch.log_softmax(logits.detach()[0, :, 0, 0], 0)[2])
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # "not depigmented": the loss is -log(p_bg + p_skin), indifferent to how bg/skin share it
    a = torch.tensor([[[[5.0]], [[-5.0]], [[-5.0]]]])
    b = torch.tensor([[[[-5.0]], [[5.0]], [[-5.0]]]])
    t = torch.full((1, 1, 1), ds.NOT_DEPIG, dtype=torch.uint8)
    la, _ = partial_loss(a, t, LossConfig(dice_weight=0.0))
    lb, _ = partial_loss(b, t, LossConfig(dice_weight=0.0))
    assert float(la) == pytest.approx(float(lb)) and float(la) < 1e-3
    # a perfect prediction has ~zero total loss
    perfect = torch.tensor([[[[20.0]], [[-20.0]], [[-20.0]]]])
    lp, parts = partial_loss(perfect, torch.full((1, 1, 1), ds.BG_BIT, dtype=torch.uint8), LossConfig())
    assert float(lp) < 1e-3 and set(parts) >= {"loss", "ce", "dice"}


def _one_hot_logits(classes: list[int]) -> torch.Tensor:
    """(1, 3, 1, W) logits that put probability ~1 on the given class of each pixel."""
    return torch.stack([torch.tensor([[20.0 if c == k else -20.0 for c in classes]]) for k in range(3)])[None]


def test_dice_term_exact_and_tversky_leans_to_recall() -> None:
    # truth: 4 depigmented pixels then 4 skin pixels; "miss" predicts 2 of the 4 lesion pixels (2 FN),
    # "alarm" predicts all 4 plus 2 skin pixels as depigmented (2 FP)
    truth = torch.tensor([[[ds.DEPIG_BIT] * 4 + [ds.SKIN_BIT] * 4]], dtype=torch.uint8)
    miss = _one_hot_logits([2, 2, 1, 1, 1, 1, 1, 1])
    alarm = _one_hot_logits([2, 2, 2, 2, 2, 2, 1, 1])
    dice_only = dict(ce_weight=0.0, dice_classes=[2])
    # soft Dice of class 2 with smoothing 1: 1 - (2*2 + 1) / (2 + 4 + 1) for the miss, 1 - (2*4 + 1) / (6 + 4 + 1)
    lm, _ = partial_loss(miss, truth, LossConfig(**dice_only))
    la, _ = partial_loss(alarm, truth, LossConfig(**dice_only))
    assert float(lm) == pytest.approx(1 - 5 / 7, abs=1e-6) and float(la) == pytest.approx(1 - 9 / 11, abs=1e-6)
    # fn_weight 0.8: 1 - (2 + .5) / (2 + .8*2 + .5) vs 1 - (4 + .5) / (4 + .2*2 + .5)
    lm8, _ = partial_loss(miss, truth, LossConfig(fn_weight=0.8, **dice_only))
    la8, _ = partial_loss(alarm, truth, LossConfig(fn_weight=0.8, **dice_only))
    assert float(lm8) == pytest.approx(1 - 2.5 / 4.1, abs=1e-6) and float(la8) == pytest.approx(1 - 4.5 / 4.9, abs=1e-6)
    assert float(lm8) > float(lm) and float(la8) < float(la)


def test_small_lesion_weights_exact() -> None:
    # a 2-pixel and a 6-pixel lesion, skin and one unknown pixel (max_px 4)
    allowed = torch.full((1, 3, 4), ds.SKIN_BIT, dtype=torch.uint8)
    allowed[0, 0, :2] = ds.DEPIG_BIT
    allowed[0, 1:, 1:] = ds.DEPIG_BIT
    allowed[0, 0, 3] = ds.UNKNOWN
    w = small_lesion_weights(allowed, max_px=4, extra=3.0)
    assert w.dtype == torch.float32 and w.shape == (1, 3, 4)
    # (0, 1) and (1, 1) share an edge: the two lesions are one 8-pixel component, not small
    assert float(w.sum()) == 12.0
    allowed[0, 1, 1] = ds.SKIN_BIT  # now (0, 0)-(0, 1) is a 2-pixel component, the rest 5 pixels
    w = small_lesion_weights(allowed, max_px=4, extra=3.0)
    assert w[0, 0, :2].tolist() == [4.0, 4.0] and float(w.sum()) == 12.0 + 2 * 3.0


def test_small_lesion_weight_raises_the_cost_of_a_missed_small_lesion() -> None:
    # one small lesion pixel missed (predicted skin), one large-lesion pixel and one skin pixel right
    allowed = torch.tensor([[[ds.DEPIG_BIT, ds.SKIN_BIT, ds.DEPIG_BIT, ds.DEPIG_BIT, ds.DEPIG_BIT]]], dtype=torch.uint8)
    logits = _one_hot_logits([1, 1, 2, 2, 2])
    off, _ = partial_loss(logits, allowed, LossConfig(dice_weight=0.0))
    on, _ = partial_loss(logits, allowed, LossConfig(dice_weight=0.0, small_lesion_weight=4.0, small_lesion_px=2))
    # CE of the missed pixel is 40 nats (logits +-20); weighted mean: 5 * 40 / (5 + 4) against 40 / 5
    assert float(off) == pytest.approx(40.0 / 5, rel=1e-4)
    assert float(on) == pytest.approx(5 * 40.0 / 9, rel=1e-4)


def test_small_lesion_options_keep_old_fingerprints() -> None:
    from vitiseg.training.config import TrainConfig

    base = {"name": "x", "data": {"sources": [{"name": "s", "kind": "classes", "path": "p"}]}}
    a = TrainConfig.model_validate(base).fingerprint()
    b = TrainConfig.model_validate({**base, "loss": {"small_lesion_px": 100}}).fingerprint()
    c = TrainConfig.model_validate({**base, "loss": {"small_lesion_weight": 2.0}}).fingerprint()
    assert a == b != c


def test_lr_schedule() -> None:
    o = OptimConfig(lr=0.003, schedule="cosine", warmup_steps=4, min_lr=0.0, epochs=2, steps_per_epoch=8)
    assert lr_at(0, o) == pytest.approx(0.003 / 4)
    assert lr_at(3, o) == pytest.approx(0.003)
    assert lr_at(4, o) == pytest.approx(0.003)
    assert lr_at(15, o) < lr_at(8, o) < 0.003
    assert lr_at(10, o) == pytest.approx(0.0015)  # half-way through the 12 decay steps: half the rate
    assert lr_at(5, o, time_frac=1.0) == pytest.approx(0.0)  # time-paced decay runs ahead of the steps
    assert lr_at(5, o, time_frac=0.0) == lr_at(5, o)
    const = o.model_copy(update={"schedule": "constant"})
    assert lr_at(4, const) == lr_at(15, const) == 0.003
