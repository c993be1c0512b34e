"""ONNX export: one graph from an RGB image to the anomaly score and the segmentation.

The exported graph (opset :data:`OPSET`, dynamic batch, height and width):

    input  ``image``         uint8 (N, 3, H, W) RGB, 0..255
    output ``score``         float32 (N, H, W)  gaussian_smooth(-logsumexp(logits[:, :Y])), 7x7, sigma 1
    output ``segmentation``  uint8 (N, H, W)    argmax(logits[:, :Y]), inlier train ids

The ImageNet normalisation, the network, the inlier free energy, the Gaussian smoothing
(reflect border: ONNX ``Pad`` mode ``reflect``, opset >= 11) and the argmax are all inside,
so a consumer needs only onnxruntime. The calibrated threshold and the heat-map range, when
the checkpoint has them, are written to the model's ``metadata_props`` (as JSON strings).
It uses the TorchScript exporter (``dynamo=False``), which traces shape arithmetic such as
the small model's pad-to-a-multiple-of-8 symbolically; the trace input has odd sides so that
every padding branch is recorded.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pebal.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from pebal.energy import gaussian_kernel1d

#: ONNX opset of the exported graph (reflect ``Pad`` needs >= 11).
OPSET = 17

#: Size of the dummy image used for tracing: odd sides so that pad-to-stride code is traced.
TRACE_SIZE = (67, 131)


class ExportWrapper(nn.Module):
    """uint8 RGB (N, 3, H, W) -> (score (N, H, W) float32, segmentation (N, H, W) uint8).

    Computes exactly what :class:`pebal.inference.predictor.Predictor` computes, with the Gaussian kernel
    as a fixed (1, 1, k, k) buffer: :func:`pebal.energy.gaussian_smooth` expands its kernel to
    a data-dependent channel count, which the ONNX convolution cannot take.
    """

    def __init__(self, model: nn.Module, num_classes: int, kernel_size: int = 7, sigma: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.num_classes = int(num_classes)
        self.pad = kernel_size // 2
        k1 = gaussian_kernel1d(kernel_size, sigma)
        self.register_buffer("kernel", torch.outer(k1, k1)[None, None].contiguous())
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # (x / 255 - mean) / std == (x - 255 mean) / (255 std), one subtraction and one division
        x = (image.float() - self.mean) / self.std
        logits = self.model(x)[:, : self.num_classes].float()
        energy = -torch.logsumexp(logits, dim=1, keepdim=True)
        p = self.pad
        score = F.conv2d(F.pad(energy, [p, p, p, p], mode="reflect"), self.kernel)[:, 0]
        segmentation = logits.argmax(dim=1).to(torch.uint8)
        return score, segmentation


def export_onnx(model, path: str | os.PathLike, opset: int = OPSET) -> Path:
    """Write ``model`` (a :class:`pebal.model.PEBALModel`) as an ONNX graph to ``path``."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if opset < 11:
        raise ValueError(f"opset {opset} is too old: the reflect padding of the smoothing needs >= 11")
    wrapper = ExportWrapper(model, model.num_classes).eval().cpu()
    dummy = torch.randint(0, 256, (1, 3, *TRACE_SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    axes = {0: "batch", 2: "height", 3: "width"}
    out_axes = {0: "batch", 1: "height", 2: "width"}
    from pebal.atomic import write_atomically

    traced_tmp = path.parent / f".{path.name}.{os.getpid()}.traced.tmp"
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the tracer warns about every Python int taken from a shape; the graph keeps them symbolic
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (dummy,),
                str(traced_tmp),
                dynamo=False,
                opset_version=opset,
                input_names=["image"],
                output_names=["score", "segmentation"],
                dynamic_axes={"image": axes, "score": out_axes, "segmentation": out_axes},
            )
        graph = onnx.load(str(traced_tmp))
    finally:
        traced_tmp.unlink(missing_ok=True)
    meta = dict(getattr(model, "metadata", {}) or {})
    props = {
        "pebal_num_classes": model.num_classes,
        "pebal_architecture": meta.get("architecture"),
        "pebal_threshold": meta.get("threshold"),
        "pebal_heatmap_range": meta.get("heatmap_range"),
        "pebal_input": "uint8 RGB (N, 3, H, W); normalisation is inside the graph",
    }
    for key, value in props.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(graph)
    # a reader (or a killed run) never sees half a graph: written beside, renamed when complete
    write_atomically(path, lambda tmp: onnx.save(graph, tmp))
    return path


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session for an exported graph (``threads``: intra-op threads, None = default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(session, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run an exported graph on uint8 RGB images (N, H, W, 3) -> (score (N, H, W), segmentation)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB images (N, H, W, 3), got {images.dtype} {images.shape}")
    nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    score, segmentation = session.run(["score", "segmentation"], {"image": nchw})
    return score, segmentation


def verify_export(model, path: str | os.PathLike, images: np.ndarray) -> dict:
    """Compare onnxruntime with the PyTorch :class:`pebal.inference.predictor.Predictor` on ``images``.

    Returns ``{"max_abs_score_diff", "max_abs_score", "relative_score_diff", "segmentation_agreement"}``
    (relative = the difference over the largest PyTorch score magnitude: float32 rounding grows with
    the network's depth and the scores' size, so a deep backbone's correct graph differs by more
    than a fixed 1e-3; agreement = fraction of pixels with the same class, argmax ties may differ).
    """
    from pebal.inference.predictor import Predictor

    predictor = Predictor(model, device="cpu", batch_size=len(images), keep_image=False)
    torch_results = predictor.predict_batch(list(images))
    score, segmentation = run_onnx(onnx_session(path), images)
    ref_score = np.stack([r.score for r in torch_results])
    ref_seg = np.stack([r.segmentation for r in torch_results])
    diff = float(np.abs(score - ref_score).max())
    scale = float(np.abs(ref_score).max())
    return {
        "max_abs_score_diff": diff,
        "max_abs_score": scale,
        "relative_score_diff": diff / max(scale, 1.0),
        "segmentation_agreement": float((segmentation == ref_seg).mean()),
    }
