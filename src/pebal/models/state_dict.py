"""Loading a state dict strictly, with an error that says what does not match.

Shared by the safetensors format (:mod:`.checkpoint`) and the PyTorch formats (:mod:`.formats`).
"""

from __future__ import annotations

import torch

from pebal.errors import InputError


class CheckpointError(InputError):
    """A checkpoint file is missing, unreadable, or does not match the model it describes."""


def load_state_dict_strict(
    network: torch.nn.Module, state: dict[str, torch.Tensor], source: str, assign: bool = False
) -> None:
    """``load_state_dict(strict=True)`` with an error that lists missing, unexpected and mis-shaped keys.

    ``assign=True`` makes the module hold the given tensors (for a network built on the meta
    device).
    """
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = [
        f"{k}: expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if expected[k].shape != state[k].shape
    ]
    if missing or unexpected or mis_shaped:
        lines = [f"checkpoint {source} does not match the {type(network).__name__} it describes:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {', '.join(missing[:10])}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected[:10])}")
        if mis_shaped:
            lines.append(f"  wrong shapes ({len(mis_shaped)}): {'; '.join(mis_shaped[:10])}")
        raise CheckpointError("\n".join(lines))
    network.load_state_dict(state, strict=True, assign=assign)
