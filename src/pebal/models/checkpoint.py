"""The project's checkpoint format: one safetensors file whose header records the model.

A pebal checkpoint is a ``.safetensors`` file holding the network's ``state_dict`` and, in
the safetensors metadata under the key ``"pebal"``, a JSON document::

    {"format_version": 1,
     "architecture": "deeplabv3plus_small",    # a name of the model registry
     "num_classes": 19,                         # Y, the inlier classes
     "abstention": true,                        # whether the classifier has the Y+1-th channel
     "model_kwargs": {...},                     # extra arguments of create_model
     "config": {...},                           # the resolved run config, if any
     ...}                                       # anything else (threshold, statistics, ...)

Loading never unpickles anything: safetensors holds raw tensors only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from pebal.atomic import write_atomically
from pebal.models.state_dict import CheckpointError, load_state_dict_strict

FORMAT_VERSION = 1
METADATA_KEY = "pebal"


def save_checkpoint(
    path: str | os.PathLike,
    network: torch.nn.Module,
    *,
    architecture: str,
    num_classes: int,
    abstention: bool,
    model_kwargs: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Write ``network.state_dict()`` and its description to ``path`` (atomically)."""
    from safetensors.torch import save_file

    meta = {
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "num_classes": int(num_classes),
        "abstention": bool(abstention),
        "model_kwargs": model_kwargs or {},
        "config": config or {},
        **extra,
    }
    state = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    write_atomically(path, lambda tmp: save_file(state, tmp, metadata={METADATA_KEY: json.dumps(meta)}))
    return Path(path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a pebal safetensors checkpoint."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {exc}") from exc
    if raw is None:
        raise CheckpointError(
            f"checkpoint {path} has no '{METADATA_KEY}' metadata: expected a file written by "
            "pebal.models.save_checkpoint"
        )
    return json.loads(raw)


def update_metadata(path: str | os.PathLike, **updates: Any) -> dict[str, Any]:
    """Rewrite a checkpoint with extra metadata entries (e.g. a calibrated threshold)."""
    from safetensors.torch import load_file, save_file

    meta = read_metadata(path)
    meta.update(updates)
    state = load_file(str(path))
    write_atomically(path, lambda tmp: save_file(state, tmp, metadata={METADATA_KEY: json.dumps(meta)}))
    return meta


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", abstention_seed: int = 0
):
    """Load a checkpoint and return a :class:`pebal.model.PEBALModel` ready for inference.

    The returned model is in eval mode; its ``metadata`` attribute holds the checkpoint's
    description. Keys must match the architecture exactly (strict loading).

    Recognised formats (see :mod:`pebal.models.formats`): pebal's safetensors files (a model
    without the abstention channel gets one, seeded by ``abstention_seed``), NVIDIA's
    Cityscapes ``.pth`` (the abstention channel is added, seeded by ``abstention_seed``) and
    PEBAL's ``.pth``. PyTorch files are read with ``weights_only=True``; a file that pickles
    arbitrary objects is refused with :class:`CheckpointError`.
    """
    from safetensors.torch import load_file

    from pebal.model import PEBALModel
    from pebal.models.formats import detect_format, load_torch_checkpoint
    from pebal.models.registry import create_model

    if detect_format(path) == "torch":
        return load_torch_checkpoint(path, map_location=map_location, abstention_seed=abstention_seed)
    meta = read_metadata(path)
    num_classes = int(meta["num_classes"])
    abstention = bool(meta["abstention"])
    network = create_model(
        meta["architecture"],
        num_classes=num_classes + int(abstention),
        **meta.get("model_kwargs", {}),
    )
    state = load_file(str(path), device=str(map_location))
    load_state_dict_strict(network, state, source=str(path))
    generator = torch.Generator().manual_seed(abstention_seed)
    model = PEBALModel(network, num_classes=num_classes, add_abstention=not abstention, generator=generator)
    model.metadata = meta
    return model.eval()
