"""The README's code examples run as printed."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def _example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no example {name!r}"
    return match.group(1)


def test_own_segmentation_model_example_trains_only_the_head_and_scores():
    torch.manual_seed(0)
    scope: dict = {}
    exec(compile(_example("own-model"), "README own-model", "exec"), scope)
    model, net = scope["model"], scope["net"]
    assert net.head.out_channels == 20  # the abstention channel was added
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"network.head.weight", "network.head.bias"}
    assert scope["score"].shape == scope["segmentation"].shape == (2, 64, 128)
    assert scope["segmentation"].max() < 19  # inlier classes only
    parts = scope["parts"]
    assert parts["pal_in"] > 0 and parts["pal_out"] > 0
    assert torch.isclose(scope["total"].detach(), sum(v for k, v in parts.items() if k != "total"))
