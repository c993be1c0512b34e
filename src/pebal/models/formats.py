"""Recognising and reading the checkpoint files users hold (NVIDIA's, PEBAL's, ours).

:func:`pebal.models.load_checkpoint` is the one entry point; this module does the work for
the pickled PyTorch files:

- **NVIDIA** Cityscapes checkpoint (``cityscapes_best.pth``): ``{"state_dict": {...}, ...}``
  with keys ``module.<name>`` of the WideResNet38 DeepLabv3+ and Y = 19 output channels,
  plus unused ``module.criterion.*`` entries (skipped). The abstention channel is added as
  PEBAL's loader does: a (Y+1)-channel classifier whose first Y channels are the trained
  ones and whose last is Kaiming-normal (:func:`pebal.model.extend_classifier`, seeded).
- **PEBAL** checkpoint: ``{"model": {...}, "optimizer": ..., "epoch": ...}`` or the bare
  state dict, keys ``branch1.<name>`` (``module.branch1.<name>`` when saved from
  DataParallel), Y + 1 output channels; every key is loaded, batch-norm statistics included.

Both are read with ``torch.load(weights_only=True)``: tensors, containers, numbers and
strings only. numpy scalars and arrays (NVIDIA stores ``mean_iu`` as ``numpy.float64``) are
allowlisted because rebuilding them calls no user code. Any other pickled object is refused
with :class:`CheckpointError` before it can run.
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pebal.models.state_dict import CheckpointError, load_state_dict_strict

WRN38 = "deeplabv3plus_wrn38"
_CLASSIFIER_KEY = "branch1.final.6.weight"
_ZIP_MAGIC = b"PK\x03\x04"


def detect_format(path: str | os.PathLike) -> str:
    """``"safetensors"`` or ``"torch"`` (zip or legacy pickle), from the file's first bytes."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    if len(head) == 9:
        # safetensors: little-endian u64 header length, then the JSON header
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 8 + header_len <= size:
            return "safetensors"
    if head.startswith(_ZIP_MAGIC) or head[:1] == b"\x80":  # zip archive / pickle protocol >= 2
        return "torch"
    raise CheckpointError(
        f"checkpoint {path} is neither a safetensors file nor a PyTorch file "
        f"(first bytes {head[:8]!r}); expected a pebal .safetensors, NVIDIA's or PEBAL's .pth"
    )


def _numpy_safe_globals() -> list[tuple[Any, str]]:
    """numpy constructors of plain data, under both the numpy 1 and numpy 2 module names."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    entries: list[tuple[Any, str]] = []
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        entries.append((multiarray.scalar, f"{module}.scalar"))
        entries.append((multiarray._reconstruct, f"{module}._reconstruct"))
    entries.append((np.ndarray, "numpy.ndarray"))
    entries.append((np.dtype, "numpy.dtype"))
    for code in "?bBhHiIlLqQefdgFD":
        cls = type(np.dtype(code))
        entries.append((cls, f"{cls.__module__}.{cls.__name__}"))
    return entries


def read_torch_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; refuses a file that pickles arbitrary objects."""
    try:
        # a file object, not the path: torch.load hands any path ending in .safetensors to
        # safetensors, whatever the file holds (a pickle renamed .safetensors, for instance)
        with torch.serialization.safe_globals(_numpy_safe_globals()), open(path, "rb") as handle:
            return torch.load(handle, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln), str(exc).splitlines()[0])
        raise CheckpointError(
            f"checkpoint {path} contains pickled Python objects that could execute code when "
            f"loaded, so it is refused (only tensors, containers, numbers and strings are "
            f"accepted). Detail: {reason}"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch file: {exc}") from exc


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def split_torch_checkpoint(obj: Any, source: str) -> tuple[str, dict[str, torch.Tensor], dict[str, Any]]:
    """Classify a loaded torch checkpoint.

    Returns ``(layout, state, extras)``: layout ``"nvidia"`` or ``"pebal"``, the state dict
    renamed to the ``branch1.<name>`` keys of :class:`~pebal.models.wrn38.WRN38DeepLabV3Plus`
    (NVIDIA's ``module.criterion.*`` dropped), and the container's scalar entries (epoch, ...).
    """
    extras: dict[str, Any] = {}
    if isinstance(obj, dict) and ("state_dict" in obj or "model" in obj) and not _is_state_dict(obj):
        key = "state_dict" if "state_dict" in obj else "model"
        for k, v in obj.items():
            if isinstance(v, (int, float, str, bool)):
                extras[k] = v
            elif isinstance(v, np.generic) or (isinstance(v, torch.Tensor) and v.numel() == 1):
                extras[k] = v.item()  # e.g. NVIDIA's mean_iu, a numpy.float64
        state = obj[key]
    else:
        state = obj
    if not _is_state_dict(state):
        found = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"checkpoint {source} holds no state dict: expected a dict with 'state_dict' (NVIDIA), "
            f"'model' (PEBAL) or tensors keyed by name; found {found}"
        )
    keys = list(state)
    if all(k.startswith("module.branch1.") for k in keys):  # PEBAL saved from DataParallel
        return "pebal", {k[len("module."):]: v for k, v in state.items()}, extras
    if all(k.startswith("branch1.") for k in keys):
        return "pebal", dict(state), extras
    if all(k.startswith("module.") for k in keys):
        renamed = {
            "branch1." + k[len("module."):]: v
            for k, v in state.items()
            if not k.startswith("module.criterion.")
        }
        return "nvidia", renamed, extras
    prefixes = sorted({k.split(".")[0] for k in keys})
    raise CheckpointError(
        f"checkpoint {source}: keys start with {prefixes[:8]}; expected 'module.' (NVIDIA's "
        "cityscapes checkpoint) or 'branch1.' (PEBAL's)"
    )


def _add_abstention_channel(state: dict[str, torch.Tensor], generator: torch.Generator) -> None:
    """Replace the (Y, 256, 1, 1) classifier weight by a (Y+1, ...) one, in place."""
    from pebal.model import extend_classifier

    weight = state[_CLASSIFIER_KEY]
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=False, device="meta")
    conv.weight = nn.Parameter(weight.detach(), requires_grad=False)
    state[_CLASSIFIER_KEY] = extend_classifier(conv, generator).weight.detach()


def load_torch_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    abstention_seed: int = 0,
):
    """Load NVIDIA's or PEBAL's ``.pth`` as a :class:`pebal.model.PEBALModel` in eval mode.

    ``abstention_seed`` seeds the new abstention channel of an NVIDIA checkpoint (unused for
    PEBAL's, which has it). ``model.metadata`` records the source format and the seed.
    """
    from pebal.model import PEBALModel
    from pebal.models.registry import create_model

    source = str(path)
    layout, state, extras = split_torch_checkpoint(read_torch_file(path, map_location), source)
    weight = state.get(_CLASSIFIER_KEY)
    if weight is None or weight.ndim != 4:
        raise CheckpointError(
            f"checkpoint {source} ({layout} layout) has no classifier '{_CLASSIFIER_KEY}' of shape "
            f"(C, 256, 1, 1): it is not a WideResNet38 DeepLabv3+ checkpoint"
        )
    meta: dict[str, Any] = {"architecture": WRN38, "model_kwargs": {}, "source": source, "format": layout}
    if layout == "nvidia":
        num_classes = int(weight.shape[0])
        generator = torch.Generator().manual_seed(int(abstention_seed))
        _add_abstention_channel(state, generator)
        meta["abstention_seed"] = int(abstention_seed)
    else:
        num_classes = int(weight.shape[0]) - 1
    meta.update(num_classes=num_classes, abstention=True, checkpoint_extras=extras)
    # built on the meta device and filled with the file's tensors: no second 550 MB copy
    network = create_model(WRN38, num_classes=num_classes + 1, device="meta")
    expected = network.state_dict()
    state = {
        k: v.to(expected[k].dtype) if k in expected and v.is_floating_point() else v
        for k, v in state.items()
    }
    load_state_dict_strict(network, state, source=source, assign=True)
    model = PEBALModel(network, num_classes=num_classes, add_abstention=False)
    model.metadata = meta
    return model.eval()
