"""PEBAL fine-tuning of the final classification block (single process or ``torchrun``).

Data flow: inlier training set -> AnomalyMix (outlier pixels labelled 254) -> augmentation
-> model logits (N, Y+1, H, W) -> loss -> Adam step on the final block only.

Every random choice is derived from ``cfg.seed``: the sample order from
(seed, epoch) through ``DistributedSampler``, each sample's mixing and augmentation from
(seed, epoch, index), the new abstention channel and dropout from a seeded torch generator.
A training checkpoint (``train_state.pt``: final block, every buffer, optimizer, scheduler,
RNG state, training seconds so far) is written atomically every ``checkpoint_every`` steps;
``resume=True`` continues from it to the same weights as an uninterrupted run, and leaves a
finished run (its ``model.safetensors`` written) untouched.

Paths are made absolute before anything is recorded; the fine-tuned checkpoint records the
pretrained one by absolute path and SHA-256 (:mod:`pebal.training.paths`). Its
``train_seconds`` is the time of all its steps, over every resumed part (setup excluded).

Under ``torchrun`` every batch-norm layer is synchronised across processes
(:mod:`pebal.training.distributed`), so the statistics of a step are those of the whole
distributed batch, as with one process. What still differs from one process with the same
total batch: each loss mean is over a process's own pixels (then DDP averages the gradients),
which equals the global mean only when every process has the same number of valid pixels and
the same mix of images with and without outliers; the reference's smoothness term is a sum,
so its gradient is divided by the number of processes; dropout (active in the frozen part with
``frozen_train_mode``) draws its masks per process.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from pebal.config import TrainConfig, save_config
from pebal.config_validation import validate_config
from pebal.data.transforms import image_to_tensor
from pebal.losses import build_loss
from pebal.model import PEBALModel
from pebal.atomic import write_atomically
from pebal.models.checkpoint import load_checkpoint, save_checkpoint
from pebal.training.distributed import init_distributed, synchronise_batch_norm
from pebal.training.training_set import build_training_set
from pebal.training.margins import resolve_margins
from pebal.training.guards import check_finite_step, check_resume, config_fingerprint, plain
from pebal.training.paths import absolute_paths, base_checkpoint_record, require_paths

STATE_FILE = "train_state.pt"
MODEL_FILE = "model.safetensors"


def collate(items: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Items -> (images (N, 3, H, W) normalised float32, labels (N, H, W) long)."""
    sizes = {tuple(item["label"].shape) for item in items}
    if len(sizes) > 1:
        found = ", ".join(f"{item.get('name', '?')} {item['label'].shape[0]}x{item['label'].shape[1]}" for item in items)
        raise ValueError(f"a batch needs samples of one size, found {found}: set data.crop=[H,W] "
                         "(random crops of one size) or optim.batch_size=1")
    images = torch.stack([image_to_tensor(item["image"]) for item in items])
    labels = torch.stack([torch.from_numpy(item["label"].astype(np.int64)) for item in items])
    return images, labels


def poly_schedule(total_steps: int, power: float):
    """``lr_t = lr * (1 - t / total)^power``: decays over exactly ``total_steps`` updates and
    reaches 0 at the end (the reference's schedule ran past its end; this one stops)."""

    def factor(step: int) -> float:
        return max(0.0, 1.0 - step / total_steps) ** power

    return factor


def load_pretrained(cfg: TrainConfig, device: torch.device) -> PEBALModel:
    """The model to fine-tune: any checkpoint :func:`~pebal.models.load_checkpoint` reads,
    frozen outside ``final``, with the abstention channel added (seeded by ``cfg.seed``)
    unless the checkpoint already has it."""
    model = load_checkpoint(cfg.checkpoint, abstention_seed=cfg.seed)
    model.frozen_train_mode = cfg.frozen_train_mode
    return model.to(device)


def _training_state(model, optimizer, scheduler, step, cfg, margins, train_seconds) -> dict:
    return {
        "step": step,
        "train_seconds": train_seconds,
        "final": model.final.state_dict(),
        "buffers": dict(model.network.named_buffers()),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "margins": list(margins),
        "seed": cfg.seed,
        "config": plain(cfg.to_dict()),  # --resume refuses another config (guards.check_resume)
        "config_sha256": config_fingerprint(cfg.to_dict()),
    }


def _restore(path: Path, model, optimizer, scheduler) -> tuple[int, float]:
    """Load a training state into the model, optimiser and scheduler: (step, seconds trained)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.final.load_state_dict(state["final"])
    buffers = dict(model.network.named_buffers())
    for name, value in state["buffers"].items():
        buffers[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), float(state.get("train_seconds", 0.0))


def finished_run(out: str | Path) -> Path | None:
    """The fine-tuned checkpoint of a finished run in ``out``, or None (a run is finished
    once its ``model.safetensors`` is written: that happens only after the last step)."""
    path = Path(out) / MODEL_FILE
    return path if path.is_file() else None


def _updates_weights(cfg: TrainConfig) -> bool:
    return cfg.optim.lr != 0


def finetune(cfg: TrainConfig, resume: bool = False, stop_after: int | None = None, on_model=None) -> Path:
    """Fine-tune ``cfg.checkpoint`` with PEBAL; returns the path of the fine-tuned checkpoint.

    ``stop_after`` ends the run after that many steps (as a kill would; for tests). With
    ``resume`` a finished run is left as it is (nothing is written) and its checkpoint returned.
    ``on_model(model)`` is called once the model is built, before any step (e.g. to attach a
    hook that reads the final block's input; the demo's batch-norm control does).
    """
    validate_config(cfg)
    rank, world = init_distributed()
    cfg = absolute_paths(cfg)
    if resume and (done := finished_run(cfg.out)) is not None:
        if rank == 0:
            print(f"{cfg.out} is a finished run ({done.name} written): nothing to resume, its files are left untouched")
        if world > 1:
            dist.barrier()
        return done
    if resume:
        check_resume(Path(cfg.out) / STATE_FILE, cfg.to_dict())
    require_paths(cfg)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed + rank)

    model = load_pretrained(cfg, device)
    if world > 1:
        synchronise_batch_norm(model.network)
    if on_model is not None:
        on_model(model)
    num_classes = model.num_classes
    dataset = build_training_set(cfg)
    margins = resolve_margins(cfg, model, device)
    # the entropy-maximisation baseline has no energy terms, hence no margins
    loss_overrides = {} if cfg.loss.method == "em" else {
        "energy_weight": cfg.loss.energy_weight, "m_in": margins[0], "m_out": margins[1]}
    criterion = build_loss(cfg.loss.method, num_classes, cfg.loss.variant, **loss_overrides)

    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    steps_per_epoch = len(sampler) // cfg.optim.batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"{len(dataset)} training samples over {world} process(es) do not fill one batch of {cfg.optim.batch_size}"
        )
    total_steps = cfg.optim.epochs * steps_per_epoch
    if cfg.optim.max_steps is not None:
        total_steps = min(total_steps, cfg.optim.max_steps)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.optim.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, poly_schedule(total_steps, cfg.optim.poly_power))
    train_module = model
    if world > 1:
        train_module = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    # learning rate 0 (the batch-norm-only control): Adam would add -0 * update to every weight,
    # so only the batch-norm statistics of the training-mode forward pass change; skip the
    # backward pass and the optimiser (bitwise the same weights and statistics, ~2x faster)
    forward_only = not _updates_weights(cfg)
    step, trained_before = 0, 0.0
    state_path = out / STATE_FILE
    if resume and state_path.is_file():
        step, trained_before = _restore(state_path, model, optimizer, scheduler)
    elif resume and rank == 0:
        print(f"resume: no saved training state in {out} ({STATE_FILE} not found): starting from step 0")
    if rank == 0:
        save_config(cfg, out / "config.yaml")

    writer = _tensorboard(cfg, out) if rank == 0 else None
    progress = _progress(cfg, total_steps, step) if rank == 0 else None
    model.train()
    started = time.perf_counter()

    def seconds() -> float:
        return trained_before + time.perf_counter() - started

    while step < total_steps:
        epoch, skip = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        indices = list(sampler)[skip * cfg.optim.batch_size : steps_per_epoch * cfg.optim.batch_size]
        loader = DataLoader(dataset, batch_size=cfg.optim.batch_size, sampler=indices, collate_fn=collate,
                            num_workers=cfg.data.num_workers, drop_last=True)
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            if forward_only:
                with torch.no_grad():
                    loss, parts = criterion(train_module(images), labels)
                check_finite_step(loss, parts, (), step + 1, state_path, cfg.optim.lr)
            else:
                logits = train_module(images)
                loss, parts = criterion(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                check_finite_step(loss, parts, params, step + 1, state_path, cfg.optim.lr)
                optimizer.step()
                scheduler.step()
            step += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix({k: f"{v.item():.3g}" for k, v in parts.items()}, refresh=False)
            if writer is not None and step % cfg.log_every == 0:
                for name, value in parts.items():
                    writer.add_scalar(f"loss/{name}", value.item(), step)
                writer.add_scalar("lr", scheduler.get_last_lr()[0], step)
                writer.add_scalar("outlier_fraction", (labels == 254).float().mean().item(), step)
            if rank == 0 and (step % cfg.checkpoint_every == 0 or step == total_steps):
                state = _training_state(model, optimizer, scheduler, step, cfg, margins, seconds())
                write_atomically(state_path, lambda tmp: torch.save(state, tmp))
            if step >= total_steps or (stop_after is not None and step >= stop_after):
                break
        if stop_after is not None and step >= stop_after:
            break
    if progress is not None:
        progress.close()
    if writer is not None:
        writer.close()

    final_path = out / MODEL_FILE
    if rank == 0 and step >= total_steps:
        meta = model.metadata
        save_checkpoint(
            final_path, model.network, architecture=meta["architecture"], num_classes=num_classes, abstention=True,
            model_kwargs=meta.get("model_kwargs", {}), config=cfg.to_dict(),
            margins={"m_in": margins[0], "m_out": margins[1]}, **base_checkpoint_record(cfg.checkpoint),
            train_seconds=seconds(), steps=total_steps, processes=world,
        )
    if world > 1:
        dist.barrier()
    return final_path


def _tensorboard(cfg: TrainConfig, out: Path):
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _progress(cfg: TrainConfig, total: int, start: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc="fine-tune", unit="step", disable=not cfg.progress, dynamic_ncols=True)


