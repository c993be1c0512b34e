"""The WideResNet38 DeepLabv3+: exact state-dict layout, forward against an independent
functional implementation, and loading of the published checkpoint formats.

The network has 137M parameters (550 MB); it is built once for this module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pebal.models import create_model, load_checkpoint, save_checkpoint
from pebal.models.checkpoint import CheckpointError
from pebal.models.convert import convert_checkpoint

MANIFEST = Path(__file__).resolve().parents[1] / "data" / "wrn38-deeplabv3plus-keys.tsv"
DTYPES = {"float32": torch.float32, "int64": torch.int64}


def read_manifest() -> list[tuple[str, tuple[int, ...], torch.dtype, str]]:
    rows = []
    for line in MANIFEST.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape, dtype, kind = line.split("\t")
        dims = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
        rows.append((key, dims, DTYPES[dtype], kind))
    return rows


@pytest.fixture(scope="module")
def wrn38():
    """The 20-channel network, with random BatchNorm statistics so that BN is not an identity."""
    g = torch.Generator().manual_seed(0)
    model = create_model("deeplabv3plus_wrn38", num_classes=20, generator=g)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.num_batches_tracked.fill_(7)
    return model.eval()


@pytest.fixture(scope="module")
def small_input():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 3, 37, 51, generator=g)  # odd sizes exercise padding and resizes


@pytest.fixture(scope="module")
def reference_output(wrn38, small_input):
    with torch.no_grad():
        return wrn38(small_input)


def test_state_dict_matches_manifest_exactly(wrn38):
    manifest = read_manifest()
    assert len(manifest) == 268
    state = wrn38.state_dict()
    assert list(state) == [row[0] for row in manifest]  # same keys, same order
    params = dict(wrn38.named_parameters())
    buffers = dict(wrn38.named_buffers())
    for key, shape, dtype, kind in manifest:
        assert tuple(state[key].shape) == shape, key
        assert state[key].dtype == dtype, key
        assert (key in params) == (kind == "param") and (key in buffers) == (kind == "buffer"), key


def test_parameter_counts(wrn38):
    assert sum(p.numel() for p in wrn38.parameters()) == 137_104_192
    assert sum(p.numel() for p in wrn38.final.parameters()) == 1_296_384
    assert wrn38.final is wrn38.branch1.final


def test_block_layout(wrn38):
    net = wrn38.branch1
    assert list(net.mod6.block1.convs._modules) == ["conv1", "bn2", "conv2", "bn3", "dropout", "conv3"]
    assert net.mod6.block1.convs.dropout.p == 0.3 and net.mod7.block1.convs.dropout.p == 0.5
    assert "dropout" not in net.mod5.block1.convs._modules
    assert net.mod4.block1.convs.conv1.stride == (2, 2) and net.mod4.block2.convs.conv1.stride == (1, 1)
    assert net.mod5.block2.convs.conv1.dilation == (2, 2) and net.mod5.block2.convs.conv1.padding == (2, 2)
    assert [f[0].dilation[0] for f in net.aspp.features] == [1, 12, 24, 36]
    assert all(m.bias is None for m in wrn38.modules() if isinstance(m, torch.nn.Conv2d))


# --- an independent functional forward, written from the spec and driven by the state dict ---

def _bn_relu(x, sd, p):
    x = F.batch_norm(x, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"], sd[p + "bias"],
                     training=False, momentum=0.0, eps=1e-5)
    return F.relu(x)


def _block(x, sd, p, stride, dilation, bottleneck):
    b = _bn_relu(x, sd, p + "bn1.0.")
    c = p + "convs."
    if bottleneck:
        h = F.conv2d(b, sd[c + "conv1.weight"], stride=stride)
        h = _bn_relu(h, sd, c + "bn2.0.")
        h = F.conv2d(h, sd[c + "conv2.weight"], padding=dilation, dilation=dilation)
        h = _bn_relu(h, sd, c + "bn3.0.")
        h = F.conv2d(h, sd[c + "conv3.weight"])
    else:
        h = F.conv2d(b, sd[c + "conv1.weight"], stride=stride, padding=dilation, dilation=dilation)
        h = _bn_relu(h, sd, c + "bn2.0.")
        h = F.conv2d(h, sd[c + "conv2.weight"], padding=dilation, dilation=dilation)
    shortcut = F.conv2d(b, sd[p + "proj_conv.weight"], stride=stride) if p + "proj_conv.weight" in sd else x
    return h + shortcut


def _conv_bn_relu(x, sd, p, padding=0, dilation=1):
    x = F.conv2d(x, sd[p + "0.weight"], padding=padding, dilation=dilation)
    return _bn_relu(x, sd, p + "1.")


def functional_forward(sd, x):
    """(N, 3, H, W) -> logits, from the spec's description only (eval mode: dropout is identity)."""
    sd = {k[len("branch1."):]: v for k, v in sd.items()}
    size = x.shape[-2:]
    x = F.conv2d(x, sd["mod1.conv1.weight"], padding=1)
    x = F.max_pool2d(x, 3, stride=2, padding=1)
    # (module, blocks, first stride, dilation, bottleneck)
    plan = [("mod2", 3, 1, 1, False), ("mod3", 3, 1, 1, False), ("mod4", 6, 2, 1, False),
            ("mod5", 3, 1, 2, False), ("mod6", 1, 1, 4, True), ("mod7", 1, 1, 4, True)]
    fine = None
    for name, blocks, stride, dilation, bottleneck in plan:
        for i in range(blocks):
            x = _block(x, sd, f"{name}.block{i + 1}.", stride if i == 0 else 1, dilation, bottleneck)
        if name == "mod2":
            fine = x
            x = F.max_pool2d(x, 3, stride=2, padding=1)
    pooled = _conv_bn_relu(x.mean(dim=(2, 3), keepdim=True), sd, "aspp.img_conv.")
    branches = [pooled.expand(-1, -1, *x.shape[-2:]), _conv_bn_relu(x, sd, "aspp.features.0.")]
    for i, rate in enumerate((12, 24, 36), start=1):
        branches.append(_conv_bn_relu(x, sd, f"aspp.features.{i}.", padding=rate, dilation=rate))
    aspp = F.conv2d(torch.cat(branches, 1), sd["bot_aspp.weight"])
    aspp = F.interpolate(aspp, size=fine.shape[-2:], mode="bilinear", align_corners=True)
    h = torch.cat([F.conv2d(fine, sd["bot_fine.weight"]), aspp], 1)
    h = _conv_bn_relu(h, sd, "final.", padding=1)
    h = F.relu(F.batch_norm(F.conv2d(h, sd["final.3.weight"], padding=1), sd["final.4.running_mean"],
                            sd["final.4.running_var"], sd["final.4.weight"], sd["final.4.bias"], eps=1e-5))
    h = F.conv2d(h, sd["final.6.weight"])
    return F.interpolate(h, size=size, mode="bilinear", align_corners=True)


def _assert_same(a, b):
    scale = b.abs().max().item()
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)


def test_forward_equals_independent_functional_implementation(wrn38, small_input, reference_output):
    with torch.no_grad():
        expected = functional_forward(wrn38.state_dict(), small_input)
    assert reference_output.shape == (1, 20, 37, 51)
    assert reference_output.std() > 0
    _assert_same(reference_output, expected)


def test_output_stride_is_8(wrn38):
    seen = {}

    def record(module, inputs, output):
        seen["mod7"] = output.shape

    hook = wrn38.branch1.mod7.register_forward_hook(record)
    try:
        with torch.no_grad():
            wrn38(torch.zeros(1, 3, 64, 80))
    finally:
        hook.remove()
    assert seen["mod7"] == (1, 4096, 8, 10)


# --- the published checkpoint formats ---


@pytest.fixture
def tmp_path(tmp_path):
    """pytest keeps the last runs' temporary folders: remove the 550 MB files when done."""
    yield tmp_path
    for f in tmp_path.iterdir():
        f.unlink()

def _nvidia_state(wrn38):
    state = {"module." + k[len("branch1."):]: v for k, v in wrn38.state_dict().items()}
    state["module.final.6.weight"] = state["module.final.6.weight"][:19].clone()
    state["module.criterion.nll_loss.weight"] = torch.ones(19)
    return state


def test_nvidia_checkpoint_gets_abstention_channel(wrn38, small_input, reference_output, tmp_path):
    import numpy as np

    path = tmp_path / "cityscapes_best.pth"
    torch.save({"state_dict": _nvidia_state(wrn38), "epoch": 175, "mean_iu": np.float64(0.903)}, path)
    model = load_checkpoint(path, abstention_seed=3)
    assert not model.training and model.num_classes == 19 and model.abstention_index == 19
    assert model.metadata["format"] == "nvidia" and model.metadata["checkpoint_extras"]["epoch"] == 175
    with torch.no_grad():
        out = model(small_input)
    assert out.shape == (1, 20, 37, 51)
    # the 19 trained channels are the original network's outputs, bit for bit
    torch.testing.assert_close(out[:, :19], reference_output[:, :19], rtol=0, atol=0)
    # channel 19 is a fan-in Kaiming draw from the seeded generator, not the fixture's
    w = model.final[6].weight[19]
    assert not torch.equal(w, wrn38.final[6].weight[19])
    assert 0.5 < w.std().item() / (2 / 256) ** 0.5 < 1.5


@pytest.mark.slow
def test_nvidia_checkpoint_round_trip_through_pebal_format(wrn38, small_input, tmp_path):
    path = tmp_path / "cityscapes_best.pth"
    torch.save({"state_dict": _nvidia_state(wrn38)}, path)
    model = load_checkpoint(path, abstention_seed=3)
    again = load_checkpoint(path, abstention_seed=3)
    assert torch.equal(again.final[6].weight, model.final[6].weight)
    del again
    with torch.no_grad():
        out = model(small_input)
    # round trip through pebal's own format (architecture and metadata recorded)
    ours = convert_checkpoint(path, tmp_path / "converted.safetensors", abstention_seed=3)
    back = load_checkpoint(ours)
    with torch.no_grad():
        torch.testing.assert_close(back(small_input), out, rtol=0, atol=0)
    assert back.metadata["architecture"] == "deeplabv3plus_wrn38" and back.metadata["num_classes"] == 19
    assert back.metadata["format"] == "nvidia" and back.metadata["abstention_seed"] == 3
    assert back.metadata["source"] == str(path)
    del back
    ours = tmp_path / "with_config.safetensors"
    save_checkpoint(ours, model.network, architecture="deeplabv3plus_wrn38", num_classes=19, abstention=True,
                    config={"note": "test"})
    assert load_checkpoint(ours).metadata["config"] == {"note": "test"}


@pytest.mark.parametrize("container", [
    "model",
    # the key renaming of these two is unit-tested cheaply in test_checkpoint_formats.py
    pytest.param("bare", marks=pytest.mark.slow),
    pytest.param("dataparallel", marks=pytest.mark.slow),
])
def test_pebal_checkpoint_loads_every_key(wrn38, small_input, reference_output, tmp_path, container):
    state = wrn38.state_dict()
    if container == "model":
        obj = {"model": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3, "iteration": 40}
    elif container == "dataparallel":
        obj = {"module." + k: v for k, v in state.items()}
    else:
        obj = state
    path = tmp_path / f"pebal_{container}.pth"
    torch.save(obj, path)
    model = load_checkpoint(path)
    assert model.metadata["format"] == "pebal" and model.num_classes == 19
    # BatchNorm statistics come from the file, not defaults
    assert model.network.branch1.final[1].num_batches_tracked.item() == 7
    with torch.no_grad():
        torch.testing.assert_close(model(small_input), reference_output, rtol=0, atol=0)


def test_strict_loading_names_the_problem(wrn38, tmp_path):
    state = {k: v for k, v in wrn38.state_dict().items() if "mod3.block2" not in k}
    path = tmp_path / "broken.pth"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match=r"missing keys .*mod3\.block2"):
        load_checkpoint(path)


def test_trunk_and_head_compose_to_forward_bitwise(wrn38, small_input, reference_output):
    # evaluation shares one trunk pass between models that differ only in final
    with torch.no_grad():
        features = wrn38.forward_trunk(small_input)
        assert features.shape == (1, 304, 19, 26)  # the decoder runs at the mod2 resolution, ceil(H / 2)
        assert torch.equal(wrn38.forward_head(features, tuple(small_input.shape[-2:])), reference_output)
