"""``pebal demo``: the method end to end on the embedded benchmark.

Generate (or reuse) the benchmark, load the shipped small model, fine-tune its final block
with PEBAL, run the batch-norm-only control (learning rate 0: the final block's batch-norm
statistics are re-estimated on the fine-tuning data, nothing else changes; computed on the
PEBAL run's own trunk passes, :mod:`pebal.evaluation.bn_control`), evaluate every method on
every test set in one pass per set (one trunk pass per batch for the three models), and write
the report folder::

    results.json     {test set: {method: {auroc, ap, fpr95, ...}}, "miou", "timings", "config", ...}
    results.md       the tables
    curves_<set>.png ROC and PR curves
    examples.png     the paper's Fig. 1 layout
    finetune/        the run (config.yaml, model.safetensors, train_state.pt, tensorboard/)
    bn_control/      the control (config.yaml, model.safetensors)
    calibrated.safetensors  the fine-tuned model with a threshold calibrated on the inlier val
                     split (pebal.evaluation.demo_calibration): what `pebal predict` takes
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from pebal.atomic import write_bytes_atomically
from pebal.config import TrainConfig, load_config
from pebal.data.transforms import image_to_tensor
from pebal.evaluation.demo_calibration import calibrate_demo_model
from pebal.evaluation.evaluate import DEFAULT_METHODS, evaluate_anomaly, evaluate_segmentation
from pebal.models import load_checkpoint
from pebal.evaluation.report import example_grid, plot_curves, summary_markdown, write_json
from pebal.evaluation.bn_control import finetune_with_control

BASELINES = ("msp", "max_logit", "entropy", "energy")


def prepare_benchmark(cfg: TrainConfig, counts=None, workers: int = 2, log=None):
    """The embedded benchmark of the config's version with at least ``counts`` (default: the version's
    published val / outlier / test counts and the training images the run reads); an existing larger
    one is reused, one of another version refused."""
    import dataclasses

    from pebal.data.synthetic import ensure_benchmark
    from pebal.data.synthetic.cache import VERSION_COUNTS, require_version

    version = cfg.data.benchmark_version
    require_version(cfg.data.root, version)
    if counts is None:
        published = VERSION_COUNTS[version]
        counts = dataclasses.replace(published, train=cfg.data.max_images or published.train)
    return ensure_benchmark(cfg.data.root, seed=cfg.data.benchmark_seed, size=tuple(cfg.data.size), counts=counts,
                            workers=workers, log=log, at_least=True, version=version)


def bn_control_config(cfg: TrainConfig, out: Path, steps: int) -> TrainConfig:
    """The control run: same data and schedule shape, learning rate 0, ``steps`` steps."""
    control = copy.deepcopy(cfg)
    control.optim.lr = 0.0
    control.optim.max_steps = steps
    control.out = str(out)
    return control


def pebal_checks(results: dict, test_sets: list[str], miou: dict) -> dict:
    """Does PEBAL beat every post-hoc baseline in AP and FPR95 on each set; the mIoU change."""
    checks = {}
    for name in test_sets:
        r = results[name]
        checks[name] = {
            "ap_beats_all_baselines": all(r["pebal"]["ap"] > r[b]["ap"] for b in BASELINES),
            "fpr95_beats_all_baselines": all(r["pebal"]["fpr95"] < r[b]["fpr95"] for b in BASELINES),
            "best_baseline_ap": max(BASELINES, key=lambda b: r[b]["ap"]),
        }
    checks["miou_drop_points"] = 100 * (miou["pretrained"]["miou"] - miou["finetuned"]["miou"])
    return checks


@torch.no_grad()
def _examples(model, test_sets: dict, thresholds: dict, per_set: int) -> list[dict]:
    rows = []
    for name, dataset in test_sets.items():
        for i in range(min(per_set, len(dataset))):
            item = dataset[i]
            logits = model(image_to_tensor(item["image"]).unsqueeze(0))
            score = model.anomaly_score(logits)[0].numpy()
            rows.append({
                "image": item["image"], "label": item["label"], "score": score,
                "segmentation": model.segment(logits)[0].numpy(), "mask": score >= thresholds[name],
                "threshold": thresholds[name], "title": f"{name} {item['name']}",
            })
    return rows


def run_demo(out: str | Path = "runs/demo", *, preset: str = "embedded", config_file: str | None = None,
             overrides: list[str] = (), bn_control_steps: int = 100, examples_per_set: int = 2,
             workers: int = 2, progress: bool = True, benchmark_counts=None) -> dict:
    """Run the whole demo into ``out``; returns the content of ``results.json``."""
    from pebal.data.registry import open_dataset
    from pebal.data.synthetic import synthetic_test_sets

    out = Path(out)
    cfg = load_config(preset, config_file, [f"out={out / 'finetune'}", f"progress={str(progress).lower()}", *overrides])
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = now - since
        if progress:
            print(f"      done in {now - since:.1f} s", flush=True)
        return now

    def stage(number: int, title: str) -> None:
        if progress:
            print(f"[{number}/6] {title}", flush=True)

    stage(1, f"embedded benchmark at {cfg.data.root} (generated once, then reused)")
    prepare_benchmark(cfg, benchmark_counts, workers=workers, log=print if progress else None)
    t = lap("data", start)
    stage(2, f"fine-tune the final block with PEBAL; the batch-norm-only control ({bn_control_steps} steps) "
             "rides on the same batches")
    # the control rides on the PEBAL run (the same batches through the same frozen trunk)
    finetuned_path, control_path, shadow_seconds = finetune_with_control(
        cfg, bn_control_config(cfg, out / "bn_control", bn_control_steps), bn_control_steps)
    t = lap("finetune", t)
    timings["bn_control_inside_finetune"] = shadow_seconds
    stage(3, "evaluate PEBAL, the control and the post-hoc baselines on every test set (one trunk pass)")

    models = {
        "pretrained": load_checkpoint(cfg.checkpoint),
        "finetuned": load_checkpoint(finetuned_path),
        "bn_control": load_checkpoint(control_path),
    }
    num_classes = models["finetuned"].num_classes
    methods = {**DEFAULT_METHODS, "bn_control": ("bn_control", "pebal")}
    test_sets = synthetic_test_sets(cfg.data.root)
    results: dict = {}
    curves: dict = {}
    for name, dataset in test_sets.items():
        scored = evaluate_anomaly(dataset, models, num_classes, methods, progress=progress, desc=name, curves=True)
        curves[name] = {m: r.pop("curves") for m, r in scored.items()}
        results[name] = scored
    t = lap("evaluate", t)
    stage(4, "inlier segmentation (mIoU) before and after fine-tuning")
    val = open_dataset(cfg.data.dataset, cfg.data.root, split="val")
    results["miou"] = evaluate_segmentation(val, models, num_classes, progress=progress)
    t = lap("segmentation", t)
    stage(5, f"report: results.md, curves and examples in {out}")

    names = list(test_sets)
    for name in names:
        plot_curves(curves[name], name, out / f"curves_{name}.png", metrics=results[name])
    # display only: the threshold of best pixel F1 on the set itself (an oracle choice; a
    # deployed threshold comes from `pebal calibrate` on validation data)
    thresholds = {name: results[name]["pebal"]["best_f1_threshold"] for name in names}
    rows = _examples(models["finetuned"], test_sets, thresholds, examples_per_set)
    all_scores = np.concatenate([r["score"].ravel() for r in rows])
    score_range = (float(np.quantile(all_scores, 0.01)), float(np.quantile(all_scores, 0.99)))
    example_grid(rows, out / "examples.png", score_range,
                 threshold_note="best pixel F1 on each test set, an oracle choice for display only")
    t = lap("report", t)
    stage(6, "calibrate the fine-tuned model on the clean val scenes (a usable threshold for pebal predict)")
    results["calibrated_model"] = calibrate_demo_model(finetuned_path, cfg.data.root, out, progress=progress)
    lap("calibrate", t)
    timings["total"] = time.perf_counter() - start

    results["checks"] = pebal_checks(results, names, results["miou"])
    results["timings"] = timings
    results["margins"] = models["finetuned"].metadata.get("margins")
    results["example_threshold"] = {"rule": "best pixel F1 on the test set (display only)", **thresholds}
    results["config"] = cfg.to_dict()
    write_json(out / "results.json", results)
    method_order = ["pebal", "bn_control", *BASELINES]
    write_bytes_atomically(out / "results.md", summary_markdown(results, method_order, names).encode())
    return results
