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
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {path}: metadata '{METADATA_KEY}' is not valid JSON: {exc}") from exc


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
        model = load_torch_checkpoint(path, map_location=map_location, abstention_seed=abstention_seed)
        check_finite(model.network.state_dict(), str(path))
        return model
    meta = read_metadata(path)
    num_classes, abstention, architecture, kwargs = _checked_metadata(meta, path)
    try:
        network = create_model(architecture, num_classes=num_classes + int(abstention), **kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: its metadata (architecture {architecture!r}, model_kwargs "
                              f"{kwargs}) does not describe a model this pebal can build: {exc}") from exc
    try:
        state = load_file(str(path), device=str(map_location))
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {exc}") from exc
    check_finite(state, str(path))
    load_state_dict_strict(network, state, source=str(path))
    generator = torch.Generator().manual_seed(abstention_seed)
    model = PEBALModel(network, num_classes=num_classes, add_abstention=not abstention, generator=generator)
    model.metadata = meta
    return model.eval()


def _checked_metadata(meta: Any, path) -> tuple[int, bool, str, dict]:
    """(num_classes, abstention, architecture, model_kwargs) of a checkpoint, or a
    :class:`CheckpointError` naming the file, the key, what was expected and found."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: metadata '{METADATA_KEY}' must be a JSON object, found {type(meta).__name__}")
    checks = {
        "architecture": (lambda v: isinstance(v, str), "a model name"),
        "num_classes": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
        "abstention": (lambda v: isinstance(v, bool), "true or false"),
    }
    for key, (ok, expected) in checks.items():
        if key not in meta:
            raise CheckpointError(f"checkpoint {path}: metadata key {key!r} is missing (expected {expected}); "
                                  "was it written by pebal.models.save_checkpoint?")
        if not ok(meta[key]):
            raise CheckpointError(f"checkpoint {path}: metadata key {key!r}: expected {expected}, found {meta[key]!r}")
    kwargs = meta.get("model_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"checkpoint {path}: metadata key 'model_kwargs': expected a JSON object, found {kwargs!r}")
    return meta["num_classes"], meta["abstention"], meta["architecture"], kwargs


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse a state dict with NaN or infinite values (a diverged run): it would score every
    pixel NaN and every metric would be undefined."""
    bad = []
    for name, tensor in state.items():
        if tensor.is_floating_point():
            count = int((~torch.isfinite(tensor)).sum())
            if count:
                bad.append(f"{name} ({count} of {tensor.numel()})")
    if bad:
        raise CheckpointError(f"checkpoint {source} holds NaN or infinite weights in {len(bad)} tensor(s): "
                              f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; the run that wrote it "
                              "diverged; use an earlier checkpoint or retrain with a lower learning rate")
