"""Run a paper-table experiment: every (setting, seed) in its own folder, resumable, then
mean ± std over seeds and a percentile bootstrap interval over test images.

Layout of ``out``::

    experiment.json                      the spec, seeds and overrides of the last call
    runs/pretrained/model.safetensors    copy of the pretrained checkpoint (SML / Mahalanobis
                                         statistics are stored in its metadata, the original
                                         file is never rewritten)
    runs/pretrained/seed_<s>/result.json every post-hoc score of the pretrained model
    runs/<setting>/seed_<s>/finetune/    the fine-tuning run (config.yaml, model.safetensors)
    runs/<setting>/seed_<s>/result.json  its metrics (+ bootstrap replicates, mIoU, timings)
    results.json, results.md, results.png

A run whose ``result.json`` exists is skipped (a post-hoc run only if it holds every score
asked for); an interrupted fine-tuning continues from its ``train_state.pt``.

Preset: the spec's (``embedded`` in the shipped configs) on the embedded benchmark; on real
data (training data other than the embedded benchmark, or ``--test-set`` without naming the
training data) the paper's recipe, ``paper``, unless one is named (:func:`choose_preset`). ``experiment.json``, ``results.json`` and every
run's config record the preset used.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from pebal.atomic import write_atomically, write_bytes_atomically
from pebal.config import load_config
from pebal.experiments.bootstrap import METRICS, PerImageCounts
from pebal.experiments.evaluation import FITTED_SCORES, build_scorers, inference_seconds, score_dataset
from pebal.experiments.spec import ExperimentSpec, Setting, load_spec
from pebal.evaluation.report import write_json

RESULT_FILE = "result.json"


def _finite(values):
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in values]


def _score_results(states: dict[str, PerImageCounts], spec: ExperimentSpec) -> dict:
    out = {}
    for name, state in states.items():
        metrics = state.metrics()
        replicates = state.bootstrap(spec.bootstrap_samples, spec.bootstrap_seed)
        keep = ("auroc", "ap", "fpr95", "fpr95_reference", "best_f1", "num_positive", "num_negative")
        out[name] = {**{k: metrics[k] for k in keep}, "num_images": state.num_images,
                     "bootstrap": {m: _finite(r.tolist()) for m, r in replicates.items()}}
    return out


def _evaluate(model, scorers, test_sets, spec, device, progress: bool = False, what: str = "") -> dict:
    """{score: {test set: metrics}} of one model (``progress``: a bar per test set, named
    ``what`` and the set)."""
    by_score: dict[str, dict] = {name: {} for name in scorers}
    for set_name, dataset in test_sets.items():
        states = score_dataset(dataset, model, scorers, spec.eval_batch_size, device, progress=progress,
                               desc=f"evaluate {what} on {set_name}".replace("  ", " "))
        for name, result in _score_results(states, spec).items():
            by_score[name][set_name] = result
    return by_score


def _miou(model, cfg, spec, device) -> float | None:
    if not spec.segmentation:
        return None
    from pebal.data.registry import open_dataset
    from pebal.evaluation.evaluate import evaluate_segmentation

    val = open_dataset(cfg.data.dataset, cfg.data.root, split="val")
    result = evaluate_segmentation(val, {"m": model}, model.num_classes, spec.eval_batch_size, device, progress=False)
    return result["m"]["miou"]


def parse_test_set(text: str) -> tuple[str, str, str | None]:
    """``NAME=ROOT`` or ``NAME:SPLIT=ROOT`` -> (registry name, root, split or None)."""
    head, sep, root = text.partition("=")
    if not sep or not head or not root:
        raise ValueError(f"test set {text!r}: expected NAME=ROOT or NAME:SPLIT=ROOT, e.g. lostandfound:test=/data/laf")
    name, _, split = head.partition(":")
    return name, root, split or None


def _test_sets(cfg, chosen: list[str] | None = None) -> dict:
    """The embedded benchmark's test sets, or the ``NAME[:SPLIT]=ROOT`` data sets given."""
    from pebal.data.registry import open_dataset

    if chosen:
        sets = {}
        for text in chosen:
            name, root, split = parse_test_set(text)
            sets[f"{name}:{split}" if split else name] = open_dataset(name, root, **({"split": split} if split else {}))
        return sets
    from pebal.data.synthetic import synthetic_test_sets

    _require_test_sets(cfg, chosen)
    return synthetic_test_sets(cfg.data.root)


def _require_test_sets(cfg, chosen: list[str] | None) -> None:
    """Real training data needs named test sets (the embedded ones go with the embedded data)."""
    if not chosen and not cfg.data.dataset.startswith("synthetic"):
        raise ValueError(f"data.dataset is {cfg.data.dataset!r}: name the anomaly test sets to evaluate on, "
                         "e.g. --test-set lostandfound:test=/data/lostandfound (the embedded test sets are "
                         "used only with the embedded training data)")


def choose_preset(spec: ExperimentSpec, preset: str | None, overrides: list[str], test_sets: list[str]) -> str:
    """The preset of an experiment's runs: ``preset`` if given; else ``"paper"`` on real data,
    i.e. real training data (a data set other than the embedded benchmark), or test sets named
    while the training data is left unnamed (then ``paper`` asks for Cityscapes and COCO rather
    than training on the embedded benchmark unseen); else the spec's (the embedded benchmark,
    possibly scored on named test sets)."""
    if preset is not None:
        return preset
    cfg = load_config(spec.preset, None, [*spec.set, *overrides])
    if not cfg.data.dataset.startswith("synthetic"):
        return "paper"
    named = {pair.partition("=")[0].strip() for pair in overrides}
    if test_sets and not named & {"data.dataset", "data.root"}:
        return "paper"
    return spec.preset


def _copy_pretrained(source: str, copy: Path) -> None:
    """The experiment's own copy of the pretrained model, always a pebal safetensors file
    (fitted statistics are written into its metadata); NVIDIA / PEBAL ``.pth`` files are
    converted (``pebal.models.convert``)."""
    import shutil

    from pebal.atomic import write_atomically
    from pebal.models.convert import convert_checkpoint
    from pebal.models.formats import detect_format

    copy.parent.mkdir(parents=True, exist_ok=True)
    if detect_format(source) == "torch":
        convert_checkpoint(source, copy)
    else:
        write_atomically(copy, lambda tmp: shutil.copyfile(source, tmp))


def _posthoc_run(spec, settings, seed, base_cfg, out, test_sets, device, log, progress: bool = False) -> Path:
    from pebal.baselines import load_or_fit_mahalanobis, load_or_fit_sml
    from pebal.data.registry import open_dataset
    from pebal.models import load_checkpoint
    from pebal.training.paths import base_checkpoint_record

    run_dir = out / "runs" / "pretrained" / f"seed_{seed}"
    result_path = run_dir / RESULT_FILE
    wanted = sorted({s.score for s in settings})
    if result_path.is_file():
        import json

        if set(wanted) <= set(json.loads(result_path.read_text())["scores"]):
            log(f"skip pretrained seed {seed} (done)")
            return result_path
    log(f"post-hoc scores {', '.join(wanted)} on the pretrained model, seed {seed}")
    started = time.perf_counter()
    copy = out / "runs" / "pretrained" / "model.safetensors"
    if not copy.is_file():
        _copy_pretrained(base_cfg.checkpoint, copy)
    model = load_checkpoint(copy, abstention_seed=seed).to(device)
    sml = mahalanobis = None
    if any(name in FITTED_SCORES for name in wanted):
        train = open_dataset(base_cfg.data.dataset, base_cfg.data.root, split=base_cfg.data.split)
        limit = spec.statistics_max_images if spec.statistics_max_images is not None else base_cfg.data.max_images
        if "sml" in wanted:
            sml = load_or_fit_sml(model, train, copy, max_images=limit, batch_size=spec.eval_batch_size, device=device)
        if "mahalanobis" in wanted:
            mahalanobis = load_or_fit_mahalanobis(model, train, copy, spec.mahalanobis_pixels_per_image, seed=seed,
                                                  max_images=limit, batch_size=spec.eval_batch_size, device=device)
    scorers = build_scorers(wanted, model.num_classes, sml=sml, mahalanobis=mahalanobis)
    result = {"setting": "pretrained", "seed": seed, "preset": base_cfg.preset,
              **base_checkpoint_record(base_cfg.checkpoint),
              "scores": _evaluate(model, scorers, test_sets, spec, device, progress, f"pretrained seed {seed}"),
              "miou": _miou(model, base_cfg, spec, device),
              "efficiency": _efficiency(model, None, None, test_sets, spec, device)}
    result["seconds"] = time.perf_counter() - started
    write_json(result_path, result)
    return result_path


def _efficiency(model, cfg, checkpoint_meta, test_sets, spec, device) -> dict | None:
    if spec.table != "efficiency":
        return None
    trainable, total = model.parameter_counts()
    if cfg is None:  # the pretrained model: nothing is trained
        trainable = 0
    out = {"trainable_parameters": trainable, "total_parameters": total,
           "inference_seconds_per_image": inference_seconds(model, next(iter(test_sets.values())),
                                                            spec.inference_images, device=device)}
    if cfg is not None and checkpoint_meta is not None:
        from pebal.training.training_set import build_training_set

        steps = int(checkpoint_meta["steps"])
        per_step = float(checkpoint_meta["train_seconds"]) / steps
        steps_per_epoch = len(build_training_set(cfg)) // cfg.optim.batch_size
        out.update(seconds_per_step=per_step, steps=steps, steps_per_epoch=steps_per_epoch,
                   seconds_per_epoch=per_step * steps_per_epoch, batch_size=cfg.optim.batch_size)
    return out


def _content_id(path) -> str | None:
    """``sha256:<hex>`` of a file's bytes; the path itself when it is not a file."""
    from pebal.paths import file_sha256

    return f"sha256:{file_sha256(path)}" if path and Path(path).is_file() else path


def _benchmark_id(root) -> str | None:
    """A generated benchmark's content hash (its ``manifest.json``); the path for any other data."""
    import json

    manifest = Path(root) / "manifest.json" if root else None
    if manifest is not None and manifest.is_file():
        try:
            digest = json.loads(manifest.read_text()).get("content_sha256")
        except (OSError, ValueError):
            digest = None
        if digest:
            return f"benchmark-content:{digest}"
    return root


def _outlier_pool(cfg) -> dict:
    """The run's effective outlier-exposure pool and a fingerprint of everything that decides
    its training: the resolved config (less where it is written and how it reports) and the
    names of the outlier samples it may draw. The starting checkpoint counts by its bytes and a
    generated benchmark by its manifest's content hash, not by where they lie: a checkpoint
    overwritten in place is a new training, and a moved checkout still finds its runs. Two
    settings with equal fingerprints train the same model; e.g. 1 %, 5 % and 10 % of a 12-class pool all keep one class (the same one
    for a given seed), and the ablation's rows are rows of the methods table too."""
    import hashlib
    import json

    from pebal.training.training_set import build_outlier_source

    source = build_outlier_source(cfg)
    config = cfg.to_dict()
    for key in ("out", "progress", "tensorboard", "log_every", "checkpoint_every", "threads"):
        config.pop(key, None)
    for key in ("outlier_class_fraction", "outlier_sample_fraction", "num_workers"):
        config["data"].pop(key, None)
    config["checkpoint"] = _content_id(cfg.checkpoint)
    config["data"]["root"] = _benchmark_id(cfg.data.root)
    names = list(getattr(source, "names", [str(i) for i in range(len(source))]))
    blob = json.dumps({"config": config, "outlier_samples": names}, sort_keys=True, default=str)
    return {"samples": len(source), "classes": len(source.classes),
            "fingerprint": hashlib.sha256(blob.encode()).hexdigest()}


def _evaluation_key(spec: ExperimentSpec, test_sets: dict, chosen: list[str]) -> dict:
    """What a result was measured with; a finished run is reused only under the same one.
    ``chosen``: the ``NAME[:SPLIT]=ROOT`` test sets given (empty: the embedded ones, whose
    root is the training data's and so part of the training fingerprint)."""
    return {"test_sets": sorted(test_sets), "test_set_roots": sorted(chosen), "bootstrap_samples": spec.bootstrap_samples,
            "bootstrap_seed": spec.bootstrap_seed, "segmentation": spec.segmentation,
            "efficiency": spec.table == "efficiency"}


def _same_run(out: Path, seed: int, fingerprint: str, score: str, evaluation: dict) -> Path | None:
    """A finished run with the same training fingerprint, scored with ``score`` under the same
    evaluation, in this experiment or in a sibling experiment folder (``out/../*``)."""
    import json

    own = sorted((out / "runs").glob(f"*/seed_{seed}/{RESULT_FILE}"))
    siblings = sorted(p for p in out.parent.glob(f"*/runs/*/seed_{seed}/{RESULT_FILE}")
                      if p.parents[3].resolve() != out.resolve())
    for path in own + siblings:
        result = json.loads(path.read_text())
        if result.get("evaluation") != evaluation or score not in result.get("scores", {}):
            continue
        if result.get("outlier_pool", {}).get("fingerprint") == fingerprint:
            return path
    return None


def _same_training(out: Path, seed: int, fingerprint: str) -> Path | None:
    """The checkpoint of a finished run with the same training fingerprint (here or in a sibling
    experiment folder), whatever it was scored with: a new score or test set needs no training."""
    import json

    for path in sorted(out.glob(f"runs/*/seed_{seed}/{RESULT_FILE}")) + sorted(out.parent.glob(f"*/runs/*/seed_{seed}/{RESULT_FILE}")):
        result = json.loads(path.read_text())
        if result.get("outlier_pool", {}).get("fingerprint") == fingerprint and Path(result["checkpoint"]).is_file():
            return Path(result["checkpoint"])
    return None


def _trained_run(spec, preset, setting: Setting, seed, overrides, out, test_sets, evaluation, device, progress,
                 log) -> Path:
    import json

    from pebal.models import load_checkpoint
    from pebal.training.finetune import finetune

    run_dir = out / "runs" / setting.name / f"seed_{seed}"
    result_path = run_dir / RESULT_FILE
    if result_path.is_file():
        log(f"skip {setting.name} seed {seed} (done)")
        return result_path
    cfg = load_config(preset, None, [*spec.set, *overrides, *setting.overrides(), f"seed={seed}",
                                          f"out={run_dir / 'finetune'}", f"progress={str(progress).lower()}"])
    pool = _outlier_pool(cfg)
    twin = _same_run(out, seed, pool["fingerprint"], setting.score, evaluation)
    if twin is not None:
        experiment, _, name = twin.parent.parent.relative_to(out.parent).parts
        source = name if experiment == out.name else f"{experiment}/{name}"
        log(f"reuse {source} seed {seed} for {setting.name}: the same training run")
        result = json.loads(twin.read_text())
        result.update(setting=setting.name, reused_from=source, config=cfg.to_dict(), outlier_pool=pool)
        result["scores"] = {setting.score: result["scores"][setting.score]}
        write_json(result_path, result)
        return result_path
    started = time.perf_counter()
    path = _same_training(out, seed, pool["fingerprint"])
    if path is None:
        log(f"train {setting.name} seed {seed}")
        path = finetune(cfg, resume=True)
    else:
        log(f"evaluate the checkpoint {path} for {setting.name} seed {seed}: the same training run")
    model = load_checkpoint(path).to(device)
    scorers = build_scorers([setting.score], model.num_classes)
    result = {"setting": setting.name, "seed": seed, "preset": cfg.preset, "checkpoint": str(path),
              "scores": _evaluate(model, scorers, test_sets, spec, device, progress, f"{setting.name} seed {seed}"),
              "miou": _miou(model, cfg, spec, device),
              "efficiency": _efficiency(model, cfg, model.metadata, test_sets, spec, device),
              "outlier_pool": pool, "evaluation": evaluation, "config": cfg.to_dict()}
    result["seconds"] = time.perf_counter() - started
    write_json(result_path, result)
    return result_path


def _summary(values: list[float]) -> dict:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    return {"mean": float(np.nanmean(v)) if v.size else None,
            "std": float(np.nanstd(v, ddof=1)) if np.sum(~np.isnan(v)) > 1 else 0.0,
            "per_seed": _finite(v.tolist())}


def aggregate(spec: ExperimentSpec, runs: dict[tuple[str, int], dict], seeds: list[int], set_names: list[str]) -> dict:
    """Mean ± std over seeds; the 95% percentile bootstrap interval of the seed-mean (the
    replicates of every seed share their image draws, so they are averaged draw by draw)."""
    from pebal.experiments.bootstrap import percentile_interval

    from pebal.experiments.paired import paired_rows

    rows, row_entries = [], []
    for setting in spec.settings:
        key = setting.name if setting.trained else "pretrained"
        results = [runs[(key, s)] for s in seeds]
        metrics = {}
        row_entries.append({s: [r["scores"][setting.score][s] for r in results] for s in set_names})
        for set_name in set_names:
            entries = row_entries[-1][set_name]
            metrics[set_name] = {}
            for m in METRICS:
                summary = _summary([e[m] for e in entries])
                reps = np.mean([np.asarray(_finite(e["bootstrap"][m]), dtype=np.float64) for e in entries], axis=0)
                summary["ci95"] = list(percentile_interval(reps, 0.95))
                metrics[set_name][m] = summary
        row = {"setting": setting.name, "label": setting.label or setting.name, "score": setting.score,
               "trained": setting.trained, "metrics": metrics,
               "miou": _summary([r["miou"] for r in results]) if results[0]["miou"] is not None else None}
        if all(r.get("outlier_pool") for r in results):
            row["outlier_pool"] = {k: [r["outlier_pool"][k] for r in results] for k in ("classes", "samples")}
        if results[0].get("efficiency"):
            row["efficiency"] = {k: _summary([r["efficiency"][k] for r in results])
                                 for k, v in results[0]["efficiency"].items() if isinstance(v, (int, float))}
        rows.append(row)
    return {"experiment": spec.name, "title": spec.title, "seeds": seeds, "test_sets": set_names, "rows": rows,
            "paired": paired_rows(rows, row_entries, set_names, ordering=spec.ordering, extra=spec.compare)}


def _shift_miou(cfg, out: Path, device, log) -> dict:
    """The pretrained model's val mIoU under each shift (:func:`.breakdown.shifted_miou`), cached."""
    import json

    from pebal.experiments.breakdown import shifted_miou
    from pebal.models import load_checkpoint

    path = out / "shift_miou.json"
    key = {"checkpoint": str(cfg.checkpoint), "seed": cfg.data.benchmark_seed, "size": list(cfg.data.size)}
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached["miou"]
    log("inlier mIoU of the pretrained model under each shift")
    miou = shifted_miou(load_checkpoint(cfg.checkpoint).to(device), cfg.data.benchmark_seed, tuple(cfg.data.size),
                        device=device)
    write_json(path, {"key": key, "miou": miou})
    return miou


def run_experiment(name_or_path: str | Path, out: str | Path | None = None, seeds: list[int] | None = None,
                   overrides: list[str] = (), device: str = "cpu", progress: bool = True, log=print,
                   bootstrap_samples: int | None = None, test_sets: list[str] | None = None,
                   preset: str | None = None) -> dict:
    """Run (or resume) an experiment; returns the content of ``results.json``.

    ``preset``: the training preset of every run (default: :func:`choose_preset`, i.e. the
    spec's on the embedded benchmark and ``paper`` on real data).

    ``overrides``: ``section.key=value`` training-config overrides of every run (budgets, or
    real training data: ``data.dataset=cityscapes``, ``data.root=...``, ``data.outlier_source=coco``);
    ``bootstrap_samples`` replaces the spec's number of bootstrap replicates; ``test_sets``
    (``NAME[:SPLIT]=ROOT``, registry names) replaces the embedded test sets.
    """
    import json

    from pebal.experiments.tables import experiment_markdown, plot_experiment
    from pebal.training.paths import require_paths
    from pebal.training.training_set import ensure_embedded_data

    spec = load_spec(name_or_path)
    if bootstrap_samples is not None:
        spec.bootstrap_samples = int(bootstrap_samples)
    seeds = list(spec.seeds if seeds is None else seeds)
    if not seeds:
        raise ValueError("at least one seed is needed")
    out = Path(out if out is not None else Path("runs") / "experiments" / spec.name)
    log = log or (lambda *_: None)
    overrides = list(overrides)
    chosen = list(test_sets or [])
    preset = choose_preset(spec, preset, overrides, chosen)
    base_cfg = load_config(preset, None, [*spec.set, *overrides])
    _require_test_sets(base_cfg, chosen)
    require_paths(base_cfg)
    ensure_embedded_data(base_cfg)
    test_sets = _test_sets(base_cfg, chosen)
    if spec.breakdown:
        from pebal.experiments.breakdown import breakdown_sets

        test_sets.update(breakdown_sets(test_sets))
    evaluation = _evaluation_key(spec, test_sets, chosen)
    write_json(out / "experiment.json", {"spec": spec.to_dict(), "preset": preset, "seeds": seeds,
                                         "overrides": overrides, "test_sets": chosen or ["embedded"]})

    posthoc = [s for s in spec.settings if not s.trained]
    runs: dict[tuple[str, int], dict] = {}
    for seed in seeds:
        if posthoc:
            path = _posthoc_run(spec, posthoc, seed, base_cfg, out, test_sets, device, log, progress)
            runs[("pretrained", seed)] = json.loads(path.read_text())
        for setting in spec.settings:
            if setting.trained:
                path = _trained_run(spec, preset, setting, seed, overrides, out, test_sets, evaluation, device,
                                    progress, log)
                runs[(setting.name, seed)] = json.loads(path.read_text())
    results = aggregate(spec, runs, seeds, list(test_sets))
    results["preset"], results["overrides"] = preset, overrides
    if spec.breakdown and not chosen:
        results["shift_miou"] = _shift_miou(base_cfg, out, device, log)
    table = experiment_markdown(results, spec.row_header, spec.table)
    if spec.ordering:
        from pebal.experiments.ordering import check_ordering, ordering_markdown

        results["paper_ordering"] = check_ordering(results)
        table += "\n" + ordering_markdown(results["paper_ordering"]) + "\n"
    write_json(out / "results.json", results)
    write_bytes_atomically(out / "results.md", table.encode())
    plot_experiment(results, out / "results.png")
    return results
