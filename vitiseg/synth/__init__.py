"""Synthetic vitiligo photographs with exact ground truth, painted on real (or procedural) skin.

Stages (one module each): :mod:`.backgrounds` (skin photos + masks, splits, procedural body parts),
:mod:`.shapes` (lesion priority fields, depigmentation map, exact class rule), :mod:`.appearance` (CIELAB lesion
contrast measured on real vitiligo and applied to real pixels), :mod:`.photo` (camera degradations),
:mod:`.render` (one sample), :mod:`.dataset` (``vitiseg synth dataset``), :mod:`.trial` (``vitiseg synth cohort``).
Options of ``synth dataset`` off by default: :mod:`.tones` (tone-balanced re-toning of the background skin,
``--tone-balance``) and :mod:`.hard` (extensive and faint residual lesion plans, ``--extensive`` / ``--residual``).

Main API: :func:`vitiseg.synth.render.render_sample` ``(background_rgb, skin_mask, rng, ...) -> (rgb, classmask, truth)``.
"""

from vitiseg.synth.render import render_sample, truth_from_mask

__all__ = ["render_sample", "truth_from_mask"]
