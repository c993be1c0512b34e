"""Architectures, the model registry and checkpoint I/O."""

from pebal.models.checkpoint import load_checkpoint, save_checkpoint
from pebal.models.registry import create_model, list_models

__all__ = ["create_model", "list_models", "load_checkpoint", "save_checkpoint"]
