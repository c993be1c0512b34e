"""Levers of benchmark v2's test sets, measured by criterion 1 only (post-hoc scores).

Renders the first N scenes of a v2 test set (the same scene seeds as ``pebal synth
--benchmark-version 2``) once per variant of its definition (``TestSetSpec`` fields overridden,
everything else unchanged) and scores them with a model's post-hoc scores (MSP, Max Logit,
Entropy, Energy). Criterion 1 of ``bench_benchmark_v2.py`` asks the best of them (by AP) for
AUROC 90-97, AP 15-60, FPR95 10-50. Nothing is trained; no trained method is looked at.

    python benchmarks/bench_v2_levers.py --checkpoint src/pebal/weights/deeplabv3plus_small_v3.safetensors \\
        --test-set anomalies-shifted --images 300 \\
        --variants "" "shift_strength=0.1-0.4" "camouflage=0" "size_px=24-90"

A variant is ``FIELD=VALUE[,FIELD=VALUE]``: ``shift_strength`` / ``size_px`` take ``LOW-HIGH``,
``camouflage`` / ``occlusion`` a number, ``families`` names joined by ``+``; the empty variant is the definition as it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from pebal.evaluation.report import write_json
from pebal.paths import shipped_weights

POSTHOC = ("msp", "max_logit", "entropy", "energy")
RANGE_FIELDS = ("shift_strength", "size_px")
NUMBER_FIELDS = ("camouflage", "occlusion")


def parse_variant(text: str) -> dict:
    from pebal.data.synthetic.families import ANOMALY_FAMILIES

    overrides = {}
    for part in filter(None, text.split(",")):
        field, _, value = part.partition("=")
        try:
            if field in RANGE_FIELDS:
                low, high = (float(x) for x in value.split("-"))
                overrides[field] = (low, high)
            elif field in NUMBER_FIELDS:
                overrides[field] = float(value)
            elif field == "families":
                overrides[field] = tuple(value.split("+"))
                unknown = set(overrides[field]) - set(ANOMALY_FAMILIES)
                if unknown:
                    raise SystemExit(f"variant {text!r}: unknown families {sorted(unknown)}; known: {sorted(ANOMALY_FAMILIES)}")
            else:
                raise SystemExit(f"variant {text!r}: field {field!r} is not one of "
                                 f"{RANGE_FIELDS + NUMBER_FIELDS + ('families',)}")
        except ValueError:
            kind = "LOW-HIGH" if field in RANGE_FIELDS else "a number"
            raise SystemExit(f"variant {text!r}: {field} takes {kind}, got {value!r}") from None
    return overrides


def render(seed: int, size: tuple[int, int], test_set: str, count: int, overrides: dict) -> list[dict]:
    from pebal.data.synthetic.scene import render_scene, test_set_specs
    from pebal.data.synthetic.writer import scene_rng

    spec = dataclasses.replace(test_set_specs("2")[test_set], **overrides)
    items = []
    for index in range(count):
        scene = render_scene(scene_rng(seed, test_set, index), size, spec)
        items.append({"image": scene.image, "label": scene.eval_label(spec.evaluate)})
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(shipped_weights()))
    parser.add_argument("--test-set", default="anomalies-shifted", choices=("road-obstacles", "anomalies-shifted"))
    parser.add_argument("--images", type=int, default=300, help="the first N scenes of the test set")
    parser.add_argument("--variants", nargs="+", default=[""], help="FIELD=VALUE[,FIELD=VALUE] ('' = as defined)")
    parser.add_argument("--seed", type=int, default=0, help="the benchmark's generation seed")
    parser.add_argument("--size", type=int, nargs=2, default=(128, 256))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/v2_levers.json"))
    args = parser.parse_args()

    from pebal.experiments.evaluation import build_scorers, score_dataset
    from pebal.models import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    rows = []
    for text in args.variants:
        overrides = parse_variant(text)
        t0 = time.perf_counter()
        items = render(args.seed, tuple(args.size), args.test_set, args.images, overrides)
        states = score_dataset(items, model, build_scorers(list(POSTHOC), model.num_classes))
        metrics = {name: {m: float(v) for m, v in s.metrics().items() if m in ("auroc", "ap", "fpr95")}
                   for name, s in states.items()}
        best = max(metrics, key=lambda k: metrics[k]["ap"])
        rows.append({"variant": text or "as defined", "overrides": overrides, "scores": metrics,
                     "best_score": best, "best": metrics[best], "seconds": time.perf_counter() - t0})
        b = metrics[best]
        print(f"{text or 'as defined'}: best {best} AUROC {100 * b['auroc']:.1f} AP {100 * b['ap']:.1f} "
              f"FPR95 {100 * b['fpr95']:.1f}", flush=True)
    print(f"\n{args.test_set}, first {args.images} scenes\n")
    print("| variant | best post-hoc | AUROC | AP | FPR95 |\n|---|---|---:|---:|---:|")
    for r in rows:
        b = r["best"]
        print(f"| {r['variant']} | {r['best_score']} | {100 * b['auroc']:.1f} | {100 * b['ap']:.1f} | "
              f"{100 * b['fpr95']:.1f} |")
    write_json(args.out, {"checkpoint": str(args.checkpoint), "test_set": args.test_set, "images": args.images,
                          "seed": args.seed, "size": list(args.size), "rows": rows})
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
