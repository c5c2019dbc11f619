"""The training loss for partial (set-valued) labels: cross-entropy over each pixel's allowed classes plus soft Dice
(or Tversky) over the pixels whose membership of a class is known."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .config import LossConfig


def small_lesion_weights(allowed: torch.Tensor, max_px: int, extra: float) -> torch.Tensor:
    """Per-pixel cross-entropy weights ``(N, H, W)`` float32 on ``allowed``'s device: 1 everywhere, 1 + ``extra`` on
    the pixels of certainly-depigmented (``allowed == 4``) 4-connected components of fewer than ``max_px`` pixels."""
    dep = (allowed == 4).cpu().numpy()
    w = np.ones(dep.shape, np.float32)
    for i, d in enumerate(dep):
        lab, n = ndimage.label(d)
        if n:
            small = np.bincount(lab.ravel()) < max_px
            small[0] = False  # label 0 is everything outside the lesions
            w[i][small[lab]] += extra
    return torch.from_numpy(w).to(allowed.device)


def partial_loss(
    logits: torch.Tensor, allowed: torch.Tensor, loss: LossConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss for set-valued targets.

    ``logits``: ``(N, 3, H, W)`` float; ``allowed``: ``(N, H, W)`` uint8 bit masks (bit c = class c allowed; 7 =
    unknown). Returns the scalar loss and its parts.
    """
    bits = torch.stack([(allowed >> c) & 1 for c in range(3)], dim=1).bool()  # (N,3,H,W)
    known = bits.sum(1) < 3  # pixels that carry any information
    logp = F.log_softmax(logits.float(), dim=1)
    parts: dict[str, float] = {}
    total = logits.new_zeros(())
    if loss.ce_weight > 0:
        lse = torch.logsumexp(logp.masked_fill(~bits, -1e4), dim=1)  # log sum_{allowed} p
        if not known.any():
            ce = logits.new_zeros(())
        elif loss.small_lesion_weight > 0:
            w = small_lesion_weights(allowed, loss.small_lesion_px, loss.small_lesion_weight)[known]
            ce = -(lse[known] * w).sum() / w.sum()
        else:
            ce = -(lse[known]).mean()
        total = total + loss.ce_weight * ce
        parts["ce"] = float(ce.detach())
    if loss.dice_weight > 0 and loss.dice_classes:
        p = logp.exp()
        dices = []
        for c in loss.dice_classes:
            pos = bits[:, c] & (bits.sum(1) == 1)  # certainly class c
            neg = ~bits[:, c]  # certainly not class c
            valid = (pos | neg).float()
            pc = p[:, c] * valid
            tp = (pc * pos.float()).sum()
            fp = pc.sum() - tp
            fn = pos.float().sum() - tp
            b = loss.fn_weight  # 0.5: (2 TP + 1) / (2 TP + FP + FN + 1) written as a Tversky index with smoothing 1/2
            dices.append(1.0 - (tp + 0.5) / (tp + (1.0 - b) * fp + b * fn + 0.5))
        dl = torch.stack(dices).mean()
        total = total + loss.dice_weight * dl
        parts["dice"] = float(dl.detach())
    parts["loss"] = float(total.detach())
    return total, parts
