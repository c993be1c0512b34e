"""pebal: pixel-wise energy-biased abstention learning (Tian et al., ECCV 2022).

The package reads like the method, from the bottom up:

``labels`` ``energy`` ``losses`` ``scores`` ``model``   the method core
``baselines``                                            SML, Mahalanobis
``models`` ``data`` ``metrics``                          architectures + checkpoints, data sets, metrics
``training`` ``inference`` ``evaluation``                the pipeline's stages
``experiments`` ``cli``                                  the paper's tables, the ``pebal`` command

The names most code needs are importable from here; each is imported on first use, so
``import pebal`` itself loads neither torch nor any optional dependency::

    from pebal import PEBALLoss, PEBALModel, anomaly_score, pixel_metrics

    total, parts = PEBALLoss(num_classes=19)(logits, target)    # logits (N, 20, H, W), target (N, H, W)
    score = anomaly_score(logits, num_classes=19)               # (N, H, W), higher = more anomalous
    print(pixel_metrics(score, anomaly_labels))                 # {"auroc": ..., "ap": ..., "fpr95": ...}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "PEBALLoss": "pebal.losses",
    "build_loss": "pebal.losses",
    "PEBALModel": "pebal.model",
    "anomaly_score": "pebal.energy",
    "inlier_energy": "pebal.energy",
    "get_score": "pebal.scores",
    "pixel_metrics": "pebal.metrics",
    "AnomalyMetrics": "pebal.metrics",
    "component_metrics": "pebal.metrics",
    "load_checkpoint": "pebal.models",
    "save_checkpoint": "pebal.models",
    "create_model": "pebal.models",
    "open_dataset": "pebal.data",
    "Predictor": "pebal.inference.predictor",
    "TrainConfig": "pebal.config",
    "load_config": "pebal.config",
}

__all__ = ["__version__", *sorted(_API)]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from pebal.config import TrainConfig, load_config  # noqa: F401
    from pebal.data import open_dataset  # noqa: F401
    from pebal.energy import anomaly_score, inlier_energy  # noqa: F401
    from pebal.inference.predictor import Predictor  # noqa: F401
    from pebal.losses import PEBALLoss, build_loss  # noqa: F401
    from pebal.metrics import AnomalyMetrics, component_metrics, pixel_metrics  # noqa: F401
    from pebal.model import PEBALModel  # noqa: F401
    from pebal.models import create_model, load_checkpoint, save_checkpoint  # noqa: F401
    from pebal.scores import get_score  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'pebal' has no attribute {name!r}; public names: {', '.join(__all__)}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
