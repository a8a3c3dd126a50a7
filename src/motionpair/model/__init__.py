"""FlowGenerator1Step: a one-step music-to-dance flow generator (needs the ``torch`` extra).

Modules: :mod:`.data` (pose-window representation), :mod:`.net` (frame transformer with
hand-written attention), :mod:`.objective` (MeanFlow, arXiv 2505.13447), :mod:`.train`,
:mod:`.metrics` (FID_k/g, Div_k/g, Beat Align Score, PFC; numpy only), :mod:`.evaluate`,
:mod:`.generate` (long-form dance + MP4) and :mod:`.export` (ONNX, Core ML).
See ``docs/model.md``.
"""
