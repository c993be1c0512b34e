"""The demo's batch-norm-only control, computed alongside the PEBAL run.

The control is the pretrained model fine-tuned at learning rate 0: Adam then adds ``-0 *
update`` to every weight, so all that changes are the batch-norm statistics of the
training-mode forward passes, i.e. of ``final`` (and of the frozen part when
``frozen_train_mode`` keeps it in train mode). Run separately it would repeat, batch for
batch, the PEBAL run's first ``steps`` trunk passes: same seed, same batches, same frozen
weights. :class:`StatisticsShadow` instead rides on the PEBAL run: a copy of the initial
``final``, in train mode and without gradients, is applied to the input of PEBAL's ``final``
during its first ``steps`` training steps; the frozen part's buffers are copied when the
shadow's last step is taken. The saved control checkpoint is bitwise the one a separate run at
learning rate 0 writes (``tests/integration/test_bn_control.py``), one trunk pass per step fewer.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
import torch.distributed as dist


class StatisticsShadow:
    """Re-estimates the batch-norm statistics of a copy of ``final`` on a run's batches.

    Pass :meth:`attach` as ``finetune(cfg, on_model=shadow.attach)``. Shape: the hook reads
    the final block's input (N, D, h, w) of each training-mode forward pass.
    """

    def __init__(self, steps: int) -> None:
        if steps < 1:
            raise ValueError(f"the control needs at least one step, got {steps}")
        self.steps = int(steps)
        self.done = 0
        self.seconds = 0.0
        self.final: torch.nn.Module | None = None
        self.frozen_buffers: dict[str, torch.Tensor] = {}
        self._model = None
        self._handle = None

    def attach(self, model) -> None:
        """Copy ``model.final`` as it is now (before any step) and hook the original."""
        self._model = model
        self.final = copy.deepcopy(model.final).train()
        for p in self.final.parameters():
            p.requires_grad_(False)
        self._handle = model.final.register_forward_pre_hook(self._hook)

    def _hook(self, module, inputs) -> None:
        if not module.training or self.done >= self.steps:
            return  # eval-mode passes (the margins' energies) are not training steps
        started = time.perf_counter()
        with torch.no_grad():
            self.final(inputs[0])
        self.done += 1
        if self.done == self.steps:
            final_ids = {id(t) for t in self._model.final.buffers()}
            self.frozen_buffers = {name: b.detach().clone() for name, b in self._model.network.named_buffers()
                                   if id(b) not in final_ids}
            self._handle.remove()
        self.seconds += time.perf_counter() - started

    def save(self, control_cfg, path: Path, margins: dict | None) -> Path:
        """The control network (pretrained network, shadow ``final``, frozen buffers as at the
        shadow's last step) as a checkpoint with the metadata of a fine-tuning run."""
        from pebal.config import save_config
        from pebal.models.checkpoint import save_checkpoint
        from pebal.training.finetune import load_pretrained

        if self.done != self.steps:
            raise RuntimeError(f"the control saw {self.done} of its {self.steps} steps")
        model = load_pretrained(control_cfg, torch.device("cpu"))
        model.final.load_state_dict(self.final.state_dict())
        buffers = dict(model.network.named_buffers())
        for name, value in self.frozen_buffers.items():
            buffers[name].copy_(value)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_config(control_cfg, path.parent / "config.yaml")
        meta = model.metadata
        return save_checkpoint(
            path, model.network, architecture=meta["architecture"], num_classes=model.num_classes, abstention=True,
            model_kwargs=meta.get("model_kwargs", {}), config=control_cfg.to_dict(), margins=margins,
            base_checkpoint=str(control_cfg.checkpoint), train_seconds=self.seconds, steps=self.steps,
        )


def finetune_with_control(cfg, control_cfg, steps: int) -> tuple[Path, Path, float]:
    """PEBAL's run and the learning-rate-0 control of ``steps`` steps; returns both checkpoints
    and the seconds the control spent inside the PEBAL run (0 when it ran on its own).

    The control rides on the PEBAL run when it can (one process, at most as many steps as the
    PEBAL run); otherwise it is its own run at learning rate 0. ``control_cfg``: the control's
    config (:func:`pebal.evaluation.demo.bn_control_config`), whose margins are filled in from
    the PEBAL run.
    """
    from pebal.models.checkpoint import read_metadata
    from pebal.training.finetune import MODEL_FILE, finetune

    shadow = StatisticsShadow(steps) if not (dist.is_available() and dist.is_initialized()) else None
    pebal_path = finetune(cfg, on_model=shadow.attach if shadow is not None else None)
    margins = read_metadata(pebal_path).get("margins")
    if margins is not None:
        control_cfg.loss.margins = "fixed"
        control_cfg.loss.m_in, control_cfg.loss.m_out = float(margins["m_in"]), float(margins["m_out"])
    if shadow is not None and shadow.done == steps:
        return pebal_path, shadow.save(control_cfg, Path(control_cfg.out) / MODEL_FILE, margins), shadow.seconds
    return pebal_path, finetune(control_cfg), 0.0
