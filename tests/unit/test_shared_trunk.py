"""One trunk pass for models that differ only in ``final``: the right groups, bitwise logits,
and evaluation results equal to separate per-model passes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from pebal.evaluation.shared_trunk import SharedForward, module_signature, trunk_signature
from pebal.model import PEBALModel
from pebal.models import create_model


def _model(seed: int = 0) -> PEBALModel:
    net = create_model("deeplabv3plus_small", num_classes=19, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-trivial batch-norm statistics everywhere
        g = torch.Generator().manual_seed(seed + 100)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    return PEBALModel(net, 19, generator=torch.Generator().manual_seed(1)).eval()


@pytest.fixture(scope="module")
def family():
    """pretrained; a fine-tuned final block; a batch-norm-only control (final's statistics
    changed); a control whose frozen part drifted (a trunk statistic changed); another backbone."""
    base = _model()
    tuned = copy.deepcopy(base)
    with torch.no_grad():
        for p in tuned.final.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    control = copy.deepcopy(base)
    control.final[1].running_mean.add_(0.5)
    control.final[4].num_batches_tracked.add_(100)
    drifted = copy.deepcopy(control)
    drifted.network.encoder.mod3.block1.bn1[0].running_var.mul_(1.0001)
    other = _model(seed=5)
    return {"pretrained": base, "finetuned": tuned, "bn_control": control, "drifted": drifted, "other": other}


def test_only_identical_prefixes_are_shared(family):
    trunks = {k: trunk_signature(m) for k, m in family.items()}
    assert trunks["pretrained"] == trunks["finetuned"] == trunks["bn_control"]
    assert len({trunks["pretrained"], trunks["drifted"], trunks["other"]}) == 3
    base, tuned, control = (family[k].final for k in ("pretrained", "finetuned", "bn_control"))
    # the control's convolutions are the pretrained ones, its batch-norm statistics are not
    assert module_signature(control[0]) == module_signature(base[0]) != module_signature(tuned[0])
    assert module_signature(control[1]) != module_signature(base[1])
    calls = SharedForward(family).stage_calls((32, 64))
    # 5 models x (trunk + 7 modules of final + resize) = 45 stage calls apart; together the
    # pretrained / fine-tuned / control trunk is one call, and final[0] of pretrained and control
    assert calls == {"trunk": 3, "stages": 45 - 2 - 1, "unshared": 45}


def test_hooks_and_modes_are_respected(family):
    # a hook on a trunk module would run once for the group: such a model runs alone
    handle = family["finetuned"].network.aspp.register_forward_hook(lambda *_: None)
    try:
        assert trunk_signature(family["finetuned"]) is None
        assert SharedForward(family).stage_calls((32, 64))["trunk"] == 4
    finally:
        handle.remove()
    # a trunk module in train mode (batch statistics) differs from the same one in eval mode
    family["bn_control"].network.decoder.train()
    try:
        assert trunk_signature(family["bn_control"]) != trunk_signature(family["pretrained"])
    finally:
        family["bn_control"].eval()
    # a hook inside final (Mahalanobis reads the classifier's input) still runs for its model
    seen = []
    handle = family["bn_control"].final[6].register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    try:
        with torch.no_grad():
            SharedForward(family)(torch.randn(1, 3, 16, 32))
        assert len(seen) == 1 and seen[0].shape == (1, 48, 8, 16)
    finally:
        handle.remove()


def test_shared_logits_are_bitwise_the_separate_ones(family):
    x = torch.randn(3, 3, 61, 130, generator=torch.Generator().manual_seed(3))  # padded internally
    shared = SharedForward(family)
    with torch.no_grad():
        logits = shared(x)
        for key, model in family.items():
            assert torch.equal(logits[key], model(x)), key
    assert list(logits) == list(family)
    # the heads really differ: sharing did not hand one model another's output
    assert not torch.equal(logits["pretrained"], logits["finetuned"])
    assert not torch.equal(logits["pretrained"], logits["bn_control"])


def test_a_model_without_a_split_runs_alone():
    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.final = torch.nn.Conv2d(3, 20, 1)

        def forward(self, x):
            return self.final(x)

    plain = Plain().eval()
    assert trunk_signature(plain) is None
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(SharedForward({"a": plain})(x)["a"], plain(x))


def _dataset(n: int, seed: int):
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        label = rng.choice([0, 1, 255], size=(24, 40), p=[0.85, 0.1, 0.05]).astype(np.uint8)
        items.append({"image": rng.integers(0, 256, (24, 40, 3), dtype=np.uint8), "label": label, "name": str(i)})
    return items


def test_evaluation_equals_the_per_model_path(family):
    from pebal.evaluation.evaluate import evaluate_anomaly, evaluate_segmentation

    data = _dataset(5, 0)
    models = {k: family[k] for k in ("pretrained", "finetuned", "bn_control", "drifted")}
    methods = {"pebal": ("finetuned", "pebal"), "energy": ("pretrained", "energy"), "msp": ("pretrained", "msp"),
               "bn_control": ("bn_control", "pebal"), "drifted": ("drifted", "pebal")}
    together = evaluate_anomaly(data, models, 19, methods, batch_size=2, progress=False, curves=True)
    for name, (key, score) in methods.items():
        alone = evaluate_anomaly(data, {key: models[key]}, 19, {name: (key, score)}, batch_size=2, progress=False,
                                 curves=True)
        assert _plain(together[name]) == _plain(alone[name]), name

    seg = _dataset(3, 1)
    for item in seg:
        item["label"] = np.where(item["label"] == 255, 255, item["label"] * 7).astype(np.uint8)
    together = evaluate_segmentation(seg, models, 19, batch_size=2, progress=False)
    for key in models:
        assert together[key] == evaluate_segmentation(seg, {key: models[key]}, 19, batch_size=2, progress=False)[key]


def test_experiment_scoring_equals_the_per_model_path(family):
    from pebal.experiments.evaluation import build_scorers, score_dataset, score_models

    data = _dataset(4, 2)
    keys = ("pretrained", "finetuned", "bn_control")
    scorers = {k: build_scorers(["pebal", "energy"], 19) for k in keys}
    together = score_models(data, {k: family[k] for k in keys}, scorers, batch_size=3)
    for key in keys:
        alone = score_dataset(data, family[key], scorers[key], batch_size=3)
        for name in scorers[key]:
            assert together[key][name].metrics() == alone[name].metrics(), (key, name)
    with pytest.raises(ValueError, match="same keys"):
        score_models(data, {"a": family["pretrained"]}, {"b": scorers["pretrained"]})


def _plain(value):
    """Nested results with numpy arrays as lists and NaN as a string, so that == compares every
    number (NaN included: a ROC curve's first threshold is NaN)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return "nan" if isinstance(value, float) and value != value else value
