"""Conversion of any supported checkpoint (NVIDIA, PEBAL ``.pth``) to pebal's safetensors format."""

from __future__ import annotations

import os
from pathlib import Path

from pebal.models.checkpoint import load_checkpoint, save_checkpoint


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, **load_kwargs) -> Path:
    """Load any supported checkpoint and write it in pebal's safetensors format to ``dst``."""
    model = load_checkpoint(src, **load_kwargs)
    meta = model.metadata
    reserved = {"format_version", "architecture", "num_classes", "abstention", "model_kwargs", "config"}
    return save_checkpoint(
        dst,
        model.network,
        architecture=meta["architecture"],
        num_classes=model.num_classes,
        abstention=True,
        model_kwargs=meta.get("model_kwargs", {}),
        config=meta.get("config", {}),
        **{k: v for k, v in meta.items() if k not in reserved},
    )
