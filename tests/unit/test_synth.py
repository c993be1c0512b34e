"""The embedded benchmark generator: determinism, golden hashes, labels, disjointness, cache."""

import hashlib
import json

import numpy as np
import pytest

from pebal.data import open_dataset
from pebal.data.image_io import read_image, read_label
from pebal.data.synthetic import (
    ANOMALY_FAMILIES, OE_FAMILIES, TEST_SETS, USED_TRAIN_IDS, SynthCounts, SyntheticInlierDataset, ensure_benchmark,
    outlier_exposure_items, render_scene, synthetic_test_sets)
from pebal.data.synthetic.families import OE_SHAPES
from pebal.data.synthetic.writer import render_job

SIZE = (64, 128)
TINY = SynthCounts(train=2, val=1, outlier_exposure=3, test=2)

# Golden digests of benchmark v1 as ensure_benchmark(seed=7, size=64x128, counts=TINY, version="1")
# writes it. They never change: a change to the generator is a new benchmark version.
GOLDEN_CONTENT_SHA256 = "305e5e5ab3a73665999d11b5400d38d316c1f8a625418543eed8781a997289fe"
GOLDEN_PIXELS_SHA256 = "0446e9fcd86baee97aaaa8afccb6509d3cc3ad63d53b536ae4ed31c1be53a8e6"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return ensure_benchmark(tmp_path_factory.mktemp("synth"), seed=7, size=SIZE, counts=TINY, version="1")


def _pixel_digest(root) -> str:
    digest = hashlib.sha256()
    for rel in sorted(json.loads((root / "manifest.json").read_text())["files"]):
        path = root / rel
        array = read_label(path) if ("labels" in rel or "masks" in rel) else read_image(path)
        digest.update(rel.encode() + array.tobytes())
    return digest.hexdigest()


def test_golden_hashes_of_files_and_pixels(tiny):
    manifest = json.loads((tiny / "manifest.json").read_text())
    for rel, sha in manifest["files"].items():
        assert hashlib.sha256((tiny / rel).read_bytes()).hexdigest() == sha, rel
    assert _pixel_digest(tiny) == GOLDEN_PIXELS_SHA256
    assert manifest["content_sha256"] == GOLDEN_CONTENT_SHA256


def test_jobs_are_independent_of_order_and_repeatable():
    later = render_job(3, SIZE, "road-obstacles", 5)
    for index in range(3):
        render_job(3, SIZE, "road-obstacles", index)
    again = render_job(3, SIZE, "road-obstacles", 5)
    assert all(np.array_equal(a, b) for a, b in zip(later[0], again[0]))
    assert later[1] == again[1]
    other_seed = render_job(4, SIZE, "road-obstacles", 5)
    assert not np.array_equal(later[0][0], other_seed[0][0])


def test_inlier_scenes_use_known_ids_and_have_no_anomaly():
    seen = set()
    for index in range(6):
        scene = render_scene(np.random.default_rng([11, index]), SIZE)
        ids = set(np.unique(scene.label).tolist())
        assert ids <= set(USED_TRAIN_IDS) | {255}
        assert 254 not in ids
        assert not scene.anomaly.any()
        assert scene.image.dtype == np.uint8 and scene.image.shape == SIZE + (3,)
        seen |= ids
    assert {0, 1, 2, 10} <= seen  # road, sidewalk, building, sky appear in a handful of scenes


@pytest.mark.parametrize("name", list(TEST_SETS))
def test_test_scenes_have_visible_anomalies_and_valid_labels(name):
    for index in range(4):
        scene = render_scene(np.random.default_rng([12, index]), SIZE, name)
        label = scene.eval_label(TEST_SETS[name].evaluate)
        assert set(np.unique(label).tolist()) <= {0, 1, 255}
        assert (label == 1).sum() >= 16 and (label == 0).any()
        assert np.array_equal(label == 1, scene.anomaly)
        for record in scene.meta["anomalies"]:
            assert record["family"] in TEST_SETS[name].families
            assert record["across_px"] >= 8 and record["pixels"] >= 16
        if TEST_SETS[name].evaluate == "road":  # only road pixels are evaluated as inliers
            assert np.all(scene.label[label == 0] == 0)


def test_outlier_exposure_and_test_families_are_disjoint():
    assert set(OE_FAMILIES).isdisjoint(ANOMALY_FAMILIES)
    assert len(OE_FAMILIES) >= 8
    for spec in TEST_SETS.values():
        assert set(spec.families) <= set(ANOMALY_FAMILIES)
        assert set(spec.families).isdisjoint(OE_FAMILIES)
    oe_functions = {id(shape) for _, _, shape in OE_SHAPES.values()}
    assert oe_functions.isdisjoint(id(f) for f in ANOMALY_FAMILIES.values())


def test_written_benchmark_layout_and_readers(tiny):
    train = open_dataset("synthetic-inlier", tiny, split="train")
    assert len(train) == 2 and len(SyntheticInlierDataset(tiny, "val")) == 1
    item = train[0]
    assert item["image"].shape == SIZE + (3,) and item["label"].shape == SIZE and item["name"] == "train/00000"
    assert set(np.unique(item["label"]).tolist()) <= set(USED_TRAIN_IDS) | {255}
    sets = synthetic_test_sets(tiny)
    assert set(sets) == set(TEST_SETS)
    for name, data in sets.items():
        assert len(data) == 2
        meta = json.loads((tiny / "test" / name / "anomalies.json").read_text())
        for i in range(len(data)):
            label = data[i]["label"]
            assert (label == 1).sum() == sum(a["pixels"] for a in meta[data.names[i]]["anomalies"])
    items = outlier_exposure_items(tiny)
    assert [family for _, _, family in items] == list(OE_FAMILIES[:3])
    for image_path, mask_path, family in items:
        mask = read_label(mask_path)
        assert set(np.unique(mask).tolist()) == {0, 254}
        assert read_image(image_path).shape[:2] == mask.shape
        assert image_path.name.startswith(family + "_")


def test_cache_reuses_resumes_and_follows_counts(tmp_path):
    root = tmp_path / "bench"
    ensure_benchmark(root, seed=1, size=SIZE, counts=TINY)
    manifest = json.loads((root / "manifest.json").read_text())
    first = root / "inlier/train/images/00000.png"
    stamp = first.stat().st_mtime_ns
    original = first.read_bytes()
    ensure_benchmark(root, seed=1, size=SIZE, counts=TINY)  # full reuse: nothing rewritten
    assert first.stat().st_mtime_ns == stamp
    first.unlink()  # an interrupted run: a file is missing
    (root / "manifest.json").unlink()
    ensure_benchmark(root, seed=1, size=SIZE, counts=TINY)
    assert first.read_bytes() == original
    assert json.loads((root / "manifest.json").read_text())["files"] == manifest["files"]
    smaller = SynthCounts(train=1, val=1, outlier_exposure=3, test=2)
    ensure_benchmark(root, seed=1, size=SIZE, counts=smaller)
    assert not (root / "inlier/train/images/00001.png").exists()
    assert first.read_bytes() == original  # kept: jobs do not depend on the counts
    ensure_benchmark(root, seed=2, size=SIZE, counts=smaller)  # another seed: everything redone
    assert first.read_bytes() != original
    assert json.loads((root / "manifest.json").read_text())["seed"] == 2


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 64x128"):
        ensure_benchmark(tmp_path, size=(32, 64), counts=TINY)
    with pytest.raises(ValueError, match="unknown count"):
        ensure_benchmark(tmp_path, counts={"tests": 3})
    with pytest.raises(FileNotFoundError, match="pebal synth --out"):
        SyntheticInlierDataset(tmp_path / "nothing")


def test_cli_writes_the_benchmark(tmp_path, capsys):
    from pebal.cli import main

    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--size", "64x128", "--train", "1", "--val", "1",
                 "--oe", "1", "--count", "1", "--seed", "7"]) == 0
    assert "benchmark ready" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 1, "val": 1, "outlier_exposure": 1, "test": 1}
    assert (out / "test" / "road-obstacles" / "original" / "00000.png").is_file()


def test_at_least_reuses_a_larger_benchmark_without_deleting(tmp_path):
    from pebal.data.synthetic import ensure_benchmark
    from pebal.data.synthetic.cache import SynthCounts

    big = SynthCounts(train=3, val=1, outlier_exposure=2, test=1)
    ensure_benchmark(tmp_path, seed=0, size=(64, 128), counts=big)
    files = sorted(p.name for p in (tmp_path / "inlier" / "train" / "images").iterdir())
    ensure_benchmark(tmp_path, seed=0, size=(64, 128), counts=SynthCounts(train=2, val=1, outlier_exposure=2, test=1),
                     at_least=True)
    assert sorted(p.name for p in (tmp_path / "inlier" / "train" / "images").iterdir()) == files
    assert len(files) == 3


def test_at_least_completes_a_benchmark_without_shrinking_it(tmp_path):
    """A request for fewer training scenes but more test scenes than a folder holds keeps every
    scene there and adds the missing ones (v2's 6,000 training scenes survive a default request)."""
    root = ensure_benchmark(tmp_path, seed=1, size=SIZE, counts=SynthCounts(train=3, val=1, outlier_exposure=2, test=1))
    ensure_benchmark(root, seed=1, size=SIZE, counts=SynthCounts(train=2, val=1, outlier_exposure=2, test=2), at_least=True)
    counts = json.loads((root / "manifest.json").read_text())["counts"]
    assert counts == {"train": 3, "val": 1, "outlier_exposure": 2, "test": 2}
    assert len(list((root / "inlier" / "train" / "images").glob("*.png"))) == 3


def test_v2_differs_from_v1_only_in_its_test_sets():
    from pebal.data.synthetic.scene import TEST_SETS_V2

    assert render_job(5, SIZE, "train", 3, "2")[0][0].tobytes() == render_job(5, SIZE, "train", 3, "1")[0][0].tobytes()
    v1, v2 = render_job(5, SIZE, "anomalies-shifted", 3, "1"), render_job(5, SIZE, "anomalies-shifted", 3, "2")
    assert not np.array_equal(v1[0][0], v2[0][0])
    label = v2[0][1]
    assert set(np.unique(label)) <= {0, 1, 255} and (label == 1).any()
    assert TEST_SETS_V2["anomalies-shifted"].evaluate == "ground"
    with pytest.raises(ValueError, match="unknown embedded benchmark version"):
        render_job(5, SIZE, "road-obstacles", 0, "4")


def test_v3_differs_from_v2_only_in_anomalies_shifted():
    from pebal.data.synthetic.scene import TEST_SETS_V2, TEST_SETS_V3

    for split in ("train", "val", "road-obstacles"):
        assert render_job(5, SIZE, split, 3, "3")[0][0].tobytes() == render_job(5, SIZE, split, 3, "2")[0][0].tobytes()
    v2, v3 = render_job(5, SIZE, "anomalies-shifted", 3, "2"), render_job(5, SIZE, "anomalies-shifted", 3, "3")
    assert not np.array_equal(v2[0][0], v3[0][0])
    assert set(np.unique(v3[0][1])) <= {0, 1, 255} and (v3[0][1] == 1).any()
    shifted = TEST_SETS_V3["anomalies-shifted"]
    assert "log" not in shifted.families and shifted.evaluate == TEST_SETS_V2["anomalies-shifted"].evaluate
    assert shifted.shift and shifted.shift_strength == (0.2, 0.6)


def test_the_last_lever_of_bench_v2_levers_is_v3():
    """benchmarks/bench_v2_levers.py's final variant (quoted in TEST_SETS_V3's comment) renders v3's scenes."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_v2_levers.py"
    spec = importlib.util.spec_from_file_location("bench_v2_levers", path)
    levers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(levers)
    overrides = levers.parse_variant("families=animal+boulder+barrel+tarp+tyre,occlusion=0.1,shift_strength=0.2-0.6")
    items = levers.render(3, SIZE, "anomalies-shifted", 3, overrides)
    for index, item in enumerate(items):
        image, label = render_job(3, SIZE, "anomalies-shifted", index, "3")[0]
        assert np.array_equal(item["image"], image) and np.array_equal(item["label"], label)
    assert not np.array_equal(levers.render(3, SIZE, "anomalies-shifted", 1, {})[0]["image"], items[0]["image"])
    with pytest.raises(SystemExit, match="not one of"):
        levers.parse_variant("colour=red")
    for bad in ("shift_strength=0.2", "occlusion=lots", "families=log+spaceship"):
        with pytest.raises(SystemExit, match="variant"):
            levers.parse_variant(bad)


def test_counts_left_out_are_the_versions_published_ones():
    from pebal.data.synthetic.cache import GENERATOR_VERSION, VERSION_COUNTS, _as_counts

    assert GENERATOR_VERSION == "3"  # a new folder gets the default benchmark
    assert _as_counts(None, "3") == VERSION_COUNTS["3"] == SynthCounts(train=6000, val=300, outlier_exposure=600, test=1000)
    assert _as_counts(None, "1") == SynthCounts(train=3000, val=300, outlier_exposure=600, test=300)
    assert _as_counts({"test": 2}, "3") == SynthCounts(train=6000, val=300, outlier_exposure=600, test=2)
    with pytest.raises(ValueError, match="unknown count"):
        _as_counts({"tests": 2}, "3")
