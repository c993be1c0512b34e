"""Random-weight WideResNet38 DeepLabv3+ checkpoints in the two published ``.pth`` formats.

* NVIDIA (``cityscapes_best.pth``, semantic-segmentation sdcnet branch)::

      {"state_dict": {"module.<name>": tensor, ..., "module.criterion.nll_loss.weight": (19,)},
       "optimizer": {...}, "epoch": int, "mean_iu": numpy.float64, "command": str}

  with 19 output channels (``module.final.6.weight`` is (19, 256, 1, 1)).
* PEBAL (``best_ad_ckpt.pth``)::

      {"model": {"branch1.<name>": tensor, ...}, "optimizer": {...}, "epoch": int, "iteration": int}

  with 20 output channels (19 + the abstention channel).

The weights are Kaiming-normal from a seeded generator; the batch-norm statistics are then
estimated on two seeded street images (one forward pass in training mode, dropout off), so
activations stay in a sane range as in a trained network. Each file is about 550 MB (137M
float32 parameters): the fixtures write them once per test session and delete them after.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .realpath_scenes import paint, street_label_ids

NVIDIA_EXTRAS = {"epoch": 175, "command": "train.py --dataset cityscapes --arch network.deepv3.DeepWV3Plus"}


def random_wrn38(seed: int = 0, size: tuple[int, int] = (64, 128)) -> torch.nn.Module:
    """The 20-channel network (``branch1.<name>`` keys), seeded, batch-norm statistics estimated."""
    from cityscapesscripts.helpers.labels import id2label

    from pebal.models import create_model

    generator = torch.Generator().manual_seed(seed)
    net = create_model("deeplabv3plus_wrn38", num_classes=20, generator=generator)
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(2):
        ids = street_label_ids(*size, rng)
        images.append(paint(ids, {i: id2label[i].color for i in np.unique(ids).tolist()}, rng))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average: the statistics of exactly this batch
        elif isinstance(m, torch.nn.Dropout2d):
            m.eval()
    with torch.no_grad():
        net((x - mean) / std)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    return net.eval()


def write_nvidia_checkpoint(path: Path, net: torch.nn.Module, num_classes: int = 19) -> Path:
    """``net``'s weights as NVIDIA's ``cityscapes_best.pth`` (the first ``num_classes`` channels)."""
    state = {"module." + k[len("branch1."):]: v for k, v in net.state_dict().items()}
    state["module.final.6.weight"] = state["module.final.6.weight"][:num_classes].clone()
    state["module.criterion.nll_loss.weight"] = torch.ones(num_classes)
    obj = {"state_dict": state,
           "optimizer": {"state": {}, "param_groups": [{"lr": 0.002, "momentum": 0.9, "weight_decay": 1e-4,
                                                         "params": list(range(len(state) - 1))}]},
           "mean_iu": np.float64(0.903), **NVIDIA_EXTRAS}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def write_pebal_checkpoint(path: Path, net: torch.nn.Module) -> Path:
    """``net``'s weights (every tensor, batch-norm statistics included) as PEBAL saves them."""
    obj = {"model": net.state_dict(),
           "optimizer": {"state": {}, "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.999), "params": [0, 1]}]},
           "epoch": 19, "iteration": 7440}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path
