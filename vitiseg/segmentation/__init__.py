"""Segmentation: every pixel of a photo labelled background (0), healthy skin (1) or depigmented skin (2).

- :mod:`.base`: the :class:`~.base.Segmenter` contract and :func:`~.base.segment_photo`, the one path every photo takes.
- :mod:`.load`: :func:`~.load.load_segmenter`, by name (``default``, ``classical``) or model folder, and the backend.
- :mod:`.classical`: the training-free CIELAB baseline.
- :mod:`.artifact`: model folders (``config.json`` + ``model.safetensors`` [+ ``model.onnx``]).
- :mod:`.decode`: the U-Net's decode path, shared by both backends (numpy only); :mod:`.refine`: optional per-photo
  colour refinement.
- :mod:`.onnx_runtime`: the ONNX Runtime backend (base install); :mod:`.unet`: the PyTorch backend and
  :mod:`.export`: ``vitiseg model export`` (``vitiseg[train]``).
"""
