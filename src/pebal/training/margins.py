"""The energy margins ``m_in`` / ``m_out``: the paper's constants or derived from the model.

The paper's margins (-12, -6) were tuned to its WideResNet38 backbone, whose inlier free
energies live on that backbone's own scale. Another model's energies live elsewhere (a small
model trained briefly has smaller logits, so higher energies), and the same constants then
ask for a different thing: a margin far below the model's inlier energies makes the inlier
hinge push every logit up, which the final block can only do by re-weighting classes.

``margins="auto"`` derives both from the pretrained model's inlier energy distribution on
training images (before any outlier is pasted): ``m_in`` is its ``auto_in_quantile``
quantile (default the median: only the less confident half of inlier pixels is pushed),
``m_out`` its ``auto_out_quantile`` quantile (default 0.999: outliers must score above almost
every inlier pixel).
"""

from __future__ import annotations

import numpy as np
import torch

from pebal.config import TrainConfig
from pebal.data.registry import open_dataset
from pebal.data.transforms import image_to_tensor
from pebal.energy import inlier_energy
from pebal.labels import IGNORE_INDEX


@torch.no_grad()
def inlier_energy_sample(model, dataset, num_classes: int, device, images: int = 64, per_image: int = 2000,
                         seed: int = 0) -> np.ndarray:
    """Energies of up to ``per_image`` random labelled pixels from each of the first ``images``."""
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    values = []
    for i in range(min(images, len(dataset))):
        item = dataset[i]
        x = image_to_tensor(item["image"]).unsqueeze(0).to(device)
        energy = inlier_energy(model(x).float(), num_classes)[0].cpu().numpy()
        valid = energy[item["label"] != IGNORE_INDEX]
        if valid.size:
            values.append(rng.choice(valid, size=min(per_image, valid.size), replace=False))
    model.train(was_training)
    if not values:
        raise ValueError("no labelled pixel found to estimate the energy margins from")
    return np.concatenate(values)


def resolve_margins(cfg: TrainConfig, model, device) -> tuple[float, float]:
    """(m_in, m_out) for the run: fixed from the config, or ``auto`` from the model."""
    loss = cfg.loss
    if loss.margins == "fixed":
        return float(loss.m_in), float(loss.m_out)
    if loss.margins != "auto":
        raise ValueError(f"loss.margins must be 'fixed' or 'auto', got {loss.margins!r}")
    dataset = open_dataset(cfg.data.dataset, cfg.data.root, split=cfg.data.split)
    energies = inlier_energy_sample(model, dataset, model.num_classes, device, seed=cfg.seed)
    m_in = float(np.quantile(energies, loss.auto_in_quantile))
    m_out = float(np.quantile(energies, loss.auto_out_quantile))
    if m_out <= m_in:
        raise ValueError(f"derived margins are not ordered: m_in={m_in:.3f} >= m_out={m_out:.3f}")
    return m_in, m_out
