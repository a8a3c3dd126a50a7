"""``motionpair export``: the one-step generator as ONNX and Core ML (mlprogram).

The exported graph is ``window = noise - u(noise, r=0, t=1, music)`` (one MeanFlow step from
noise to a normalised pose window) and ``pose = decode(window)`` (the representation's
de-normalisation, root path integration and re-attachment), so a device gets positions in
the dataset's units. Inputs: ``noise`` (1, T, J*D + D) standard normal, ``music`` (1, T, C)
conditioning features normalised with the dataset's train statistics
(``RUN/cond_stats.npz``); outputs ``pose`` (1, T, J, D) and ``window`` (1, T, J*D + D).
ONNX parity (``max_abs_diff``, bounded by ``--tolerance``) is measured on ``window``, the
network's own output: ``pose`` multiplies it by the std (up to ~20 cm) and sums 150 frames
of root displacement, so float32 rounding there is reported separately, in the dataset's
units (``max_abs_diff_pose``).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from motionpair.model.net import FlowNet
from motionpair.model.train import load_run


class OneStep(nn.Module):
    """noise, music -> (pose window in dataset units, normalised window), one
    average-velocity step."""

    def __init__(self, net: FlowNet, stats: dict[str, np.ndarray], n_joints: int,
                 dims: int) -> None:
        super().__init__()
        self.net, self.J, self.D = net, n_joints, dims
        self.register_buffer("mean", torch.from_numpy(stats["mean"]))
        self.register_buffer("std", torch.from_numpy(stats["std"]))
        self.register_buffer("root0", torch.from_numpy(stats["root0"]))

    def forward(self, noise: torch.Tensor, music: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = noise.shape
        t = torch.ones_like(noise[:, 0, 0])
        r = torch.zeros_like(t)
        window = noise - self.net(noise, r, t, music)
        x = window * self.std + self.mean
        JD = self.J * self.D
        rel = x[..., :JD].reshape(B, T, self.J, self.D)
        vel = x[..., JD:]
        path = torch.cumsum(vel, dim=1) - vel[:, :1]  # data.root_path: vel[0] ignored
        root = path + self.root0
        return rel + root[:, :, None, :], window


def example_inputs(rec: dict[str, Any], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    T, n_motion, n_cond = rec["net"]["frames"], rec["net"]["n_motion"], rec["net"]["n_cond"]
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, T, n_motion, generator=g), torch.randn(1, T, n_cond, generator=g))


def _latency_ms(fn: Any, n: int = 30) -> float:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def export(run: str | Path, *, onnx: bool = True, coreml: bool = True,
           out: str | Path | None = None, latency_runs: int = 30) -> dict[str, Any]:
    """Write RUN/export/{flowgen1step.onnx, FlowGenerator1Step.mlpackage, export.json}."""
    net, rec, stats = load_run(run, "cpu")
    out = Path(out) if out else Path(run) / "export"
    out.mkdir(parents=True, exist_ok=True)
    model = OneStep(net, stats, rec["skeleton"]["n_joints"], rec["skeleton"]["dims"]).eval()
    noise, music = example_inputs(rec)
    with torch.no_grad():
        ref_pose, ref_win = (o.numpy() for o in model(noise, music))
        torch.set_num_threads(1)
        lat_torch = _latency_ms(lambda: model(noise, music), latency_runs)
    info: dict[str, Any] = {
        "inputs": {"noise": list(noise.shape), "music": list(music.shape)},
        "output": {"pose": list(ref_pose.shape), "window": list(ref_win.shape)},
        "units": rec["skeleton"]["units"],
        "params": sum(p.numel() for p in net.parameters()),
        "latency_ms_torch_cpu_1thread": round(lat_torch, 2)}
    ep = torch.export.export(model, (noise, music))
    if onnx:
        info["onnx"] = _onnx(ep, noise, music, ref_pose, ref_win, out, latency_runs)
    if coreml:
        info["coreml"] = _coreml(ep, noise, music, out)
    (out / "export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _onnx(ep: Any, noise: torch.Tensor, music: torch.Tensor, ref_pose: np.ndarray,
          ref_win: np.ndarray, out: Path, latency_runs: int) -> dict[str, Any]:
    import onnxruntime as ort

    path = out / "flowgen1step.onnx"
    prog = torch.onnx.export(ep, (noise, music), dynamo=True, input_names=["noise", "music"],
                             output_names=["pose", "window"], external_data=False)
    assert prog is not None
    prog.save(str(path), external_data=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {"noise": noise.numpy(), "music": music.numpy()}
    pose, win = sess.run(["pose", "window"], feed)
    lat = _latency_ms(lambda: sess.run(["pose", "window"], feed), latency_runs)
    return {"file": path.name, "bytes": path.stat().st_size,
            "max_abs_diff": float(np.abs(win - ref_win).max()),
            "max_abs_value": float(np.abs(ref_win).max()),
            "max_abs_diff_pose": float(np.abs(pose - ref_pose).max()),
            "max_abs_value_pose": float(np.abs(ref_pose).max()),
            "latency_ms_onnxruntime_cpu_1thread": round(lat, 2)}


def _coreml(ep: Any, noise: torch.Tensor, music: torch.Tensor, out: Path) -> dict[str, Any]:
    import coremltools as ct

    path = out / "FlowGenerator1Step.mlpackage"
    mlmodel = ct.convert(ep.run_decompositions({}),
                         inputs=[ct.TensorType(name="noise", shape=tuple(noise.shape)),
                                 ct.TensorType(name="music", shape=tuple(music.shape))],
                         outputs=[ct.TensorType(name="pose"), ct.TensorType(name="window")],
                         convert_to="mlprogram", compute_precision=ct.precision.FLOAT32,
                         minimum_deployment_target=ct.target.iOS17)
    if path.exists():
        import shutil

        shutil.rmtree(path)
    mlmodel.save(str(path))
    spec_info = check_mlpackage(path)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {"file": path.name, "bytes": size, **spec_info,
            "predictions": "not run: Core ML predictions need macOS"}


def check_mlpackage(path: str | Path) -> dict[str, Any]:
    """Reload with ``skip_model_load=True`` (no macOS needed) and read the spec."""
    import coremltools as ct

    m = ct.models.MLModel(str(path), skip_model_load=True)
    spec = m.get_spec()
    ins = {i.name: list(i.type.multiArrayType.shape) for i in spec.description.input}
    outs = {o.name: list(o.type.multiArrayType.shape) for o in spec.description.output}
    return {"spec_inputs": ins, "spec_outputs": outs,
            "model_type": spec.WhichOneof("Type"),
            "spec_version": int(spec.specificationVersion)}
