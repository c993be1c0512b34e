"""ONNX export: onnxruntime reproduces the PyTorch score within 1e-4 at any height and width."""

from __future__ import annotations

import json

import numpy as np
import onnx  # the 'export' extra; required, not skipped
import pytest
import torch

from pebal.data.transforms import image_to_tensor
from pebal.inference.onnx_export import ExportWrapper, export_onnx, onnx_session, run_onnx, verify_export
from pebal.models import create_model, load_checkpoint, save_checkpoint
from pebal.inference.predictor import Predictor

Y = 19


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = create_model("deeplabv3plus_small", num_classes=Y + 1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        net.final[6].weight.mul_(0.05)  # energies of a realistic magnitude (about -20..0)
    folder = tmp_path_factory.mktemp("onnx")
    save_checkpoint(folder / "m.safetensors", net, architecture="deeplabv3plus_small", num_classes=Y,
                    abstention=True, threshold=-7.5, heatmap_range=[-15.0, -2.0])
    model = load_checkpoint(folder / "m.safetensors")
    path = export_onnx(model, folder / "m.onnx")
    return model, path


@pytest.mark.parametrize("shape", [(1, 64, 128), (2, 37, 45), (1, 96, 40)])
def test_onnxruntime_matches_pytorch(exported, shape):
    model, path = exported
    n, h, w = shape
    images = np.random.default_rng(h * w).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    score, segmentation = run_onnx(onnx_session(path), images)
    assert score.shape == (n, h, w) and score.dtype == np.float32
    assert segmentation.shape == (n, h, w) and segmentation.dtype == np.uint8
    reference = Predictor(model, device="cpu").predict_batch(list(images))
    for i, r in enumerate(reference):
        np.testing.assert_allclose(score[i], r.score, atol=1e-4, rtol=0)
        assert (segmentation[i] == r.segmentation).mean() > 0.999
    check = verify_export(model, path, images)
    assert check["max_abs_score_diff"] < 1e-4


def test_graph_has_dynamic_sizes_and_metadata(exported):
    _, path = exported
    graph = onnx.load(str(path))
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in graph.graph.output] == ["score", "segmentation"]
    props = {p.key: json.loads(p.value) for p in graph.metadata_props}
    assert props["pebal_threshold"] == -7.5 and props["pebal_heatmap_range"] == [-15.0, -2.0]
    assert props["pebal_num_classes"] == Y
    assert any(node.op_type == "Pad" and any(a.s == b"reflect" for a in node.attribute) for node in graph.graph.node)


def test_wrapper_smoothing_equals_library_smoothing(exported):
    # the wrapper re-implements the smoothing with a fixed kernel; it must equal pebal.energy's
    model, _ = exported
    image = torch.randint(0, 256, (1, 3, 40, 56), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    wrapper = ExportWrapper(model, Y).eval()
    with torch.no_grad():
        score, _ = wrapper(image)
        logits = model(image_to_tensor(image[0].permute(1, 2, 0).numpy())[None])
        expected = model.anomaly_score(logits)
    np.testing.assert_allclose(score.numpy(), expected.numpy(), atol=1e-5)


def test_run_onnx_checks_its_input(exported):
    _, path = exported
    with pytest.raises(ValueError, match="uint8 RGB images"):
        run_onnx(onnx_session(path), np.zeros((1, 3, 8, 8), np.uint8))
