"""``ensure_benchmark``: generate the embedded benchmark once, reuse it afterwards.

Layout under ``root``::

    manifest.json                                  seed, size, counts, version, SHA-256 and size of every file
    inlier/{train,val}/{images,labels}/NNNNN.png   RGB / Cityscapes train ids (255 void)
    outlier_exposure/{images,masks}/<family>_NNNNN.png   cut-out / mask 0 or 254
    test/<set>/{original,labels}/NNNNN.png         Fishyscapes layout, labels 0 / 1 / 255
    test/<set>/anomalies.json                      per image: family, distance, pixels, occlusion

Safety: the cache only ever deletes or overwrites files it wrote itself. Every file it writes
is recorded in ``.synth-files.jsonl`` (:mod:`.ledger`: the intention before rendering, the
SHA-256 and size after) and, once the benchmark is complete, in ``manifest.json``. A generated
folder (``inlier/``, ``outlier_exposure/``, ``test/``) that holds any other file makes the
cache refuse with :class:`~pebal.errors.CacheConflictError`: nothing is deleted or written.

Caching: ``.synth.lock`` serialises concurrent generators of one folder. When ``manifest.json``
matches (seed, size, counts, generator version) and every file it lists has its recorded size
(``verify=True``: its recorded SHA-256), nothing is done. A file that is missing or damaged is
named and re-rendered (repair). Otherwise the run resumes: ``.synth-config.json`` records
(version, seed, size) at the start; if it matches, recorded files on disk are kept (each was
written atomically by the same deterministic job, which does not depend on the counts),
missing ones are rendered, recorded files beyond the counts are deleted, and the manifest is
written last. If it does not match, the recorded files are deleted first.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from pebal.atomic import write_bytes_atomically
from pebal.data.synthetic.families import ANOMALY_FAMILIES, OE_FAMILIES
from pebal.data.synthetic.ledger import (MANAGED, Ledger, delete_owned, file_state, foreign_files, old_temporaries,
                                         read_json)
from pebal.data.synthetic.scene import TEST_SETS, USED_TRAIN_IDS, test_set_specs
from pebal.data.synthetic.writer import job_files, run_jobs
from pebal.errors import CacheConflictError, InputError
from pebal.paths import DEFAULT_BENCHMARK_VERSION

#: The version a new benchmark folder gets when the caller names none: the default benchmark (v3).
#: Each version's bytes are fixed (golden hashes); a change to the generator is a new version.
GENERATOR_VERSION = DEFAULT_BENCHMARK_VERSION
DEFAULT_SIZE = (128, 256)
_STAMP = ".synth-config.json"
_LEDGER = ".synth-files.jsonl"


@dataclass(frozen=True)
class SynthCounts:
    """How many items each split gets; ``test`` is per test set."""

    train: int = 3000
    val: int = 300
    outlier_exposure: int = 600
    test: int = 300

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"SynthCounts.{name} must be an integer >= 0, got {value!r}")


#: The counts each benchmark version is published with (v2 and v3: 1,000 scenes per test set, so that a
#: paired AP interval between two trained methods is about +-1.5 points; 6,000 training scenes).
_V2_COUNTS = SynthCounts(train=6000, val=300, outlier_exposure=600, test=1000)
VERSION_COUNTS = {"1": SynthCounts(), "2": _V2_COUNTS, "3": _V2_COUNTS}


def _as_counts(counts, version: str) -> SynthCounts:
    """``counts`` as SynthCounts; None (or a field left out of a dict): the version's published counts."""
    published = VERSION_COUNTS.get(version, SynthCounts())
    if counts is None:
        return published
    if isinstance(counts, SynthCounts):
        return counts
    unknown = set(counts) - set(asdict(SynthCounts()))
    if unknown:
        raise ValueError(f"unknown count(s) {sorted(unknown)}; valid: {sorted(asdict(SynthCounts()))}")
    return replace(published, **counts)


def all_jobs(counts: SynthCounts) -> list[tuple[str, int]]:
    jobs = [("train", i) for i in range(counts.train)] + [("val", i) for i in range(counts.val)]
    jobs += [("outlier_exposure", i) for i in range(counts.outlier_exposure)]
    jobs += [(name, i) for name in TEST_SETS for i in range(counts.test)]
    return jobs


def ensure_benchmark(root: str | os.PathLike, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
                     counts: SynthCounts | dict | None = None, workers: int = 1, log=None,
                     at_least: bool = False, verify: bool = False, version: str | None = None) -> Path:
    """Generate the benchmark under ``root`` (or reuse or repair it) and return ``root`` as a Path.

    Args:
        seed: benchmark seed (>= 0); every file is a function of (seed, size, version).
        size: (height, width) of the scenes; at least 64 x 128.
        counts: :class:`SynthCounts` or a dict of some of its fields; None or a field left out: the
            version's published counts (:data:`VERSION_COUNTS`).
        workers: processes used to render (the files do not depend on it).
        log: optional callable receiving progress lines (repairs are reported on stderr without it).
        at_least: reuse a complete benchmark of the same (seed, size, version) whose counts
            are all at least ``counts`` (item ``i`` of a split never depends on the counts,
            so a larger benchmark contains the smaller one); never delete anything then.
        verify: on reuse compare every file's SHA-256 with the manifest, not only its size.
        version: the benchmark version ("1", "2", "3": :data:`~pebal.data.synthetic.scene.TEST_SETS_BY_VERSION`);
            None: the version already under ``root``, or ``GENERATOR_VERSION`` for a new folder
            (so a caller that does not choose never replaces one version by another).

    Raises:
        CacheConflictError: a generated folder holds files the cache did not write.
    """
    root = Path(root)
    h, w = int(size[0]), int(size[1])
    if h < 64 or w < 128:
        raise ValueError(f"size must be at least 64x128 (height x width), got {h}x{w}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if root.exists() and not root.is_dir():
        raise CacheConflictError(f"benchmark folder {root} is a file; expected a folder (or a path that does not exist)")
    version = _existing_version(root) if version is None else str(version)
    test_set_specs(version)  # a clear error for an unknown version
    counts = _as_counts(counts, version)
    config = {"generator": "pebal.data.synthetic", "version": version, "seed": int(seed), "size": [h, w]}
    ready, _, _ = _check_manifest(root, config, counts, at_least, verify)
    if ready:
        return root
    if root.is_dir():  # refuse before the lock file is created: nothing of yours is touched
        _refuse_foreign(root, _records(root))
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / ".synth.lock"):
        # Another process may have finished (or repaired) the benchmark while we waited for the lock.
        ready, damaged, found_counts = _check_manifest(root, config, counts, at_least, verify)
        if ready:
            return root
        say = log if log is not None else (lambda line: print(line, file=sys.stderr))
        if damaged:
            say(f"synth: {len(damaged)} file(s) of the benchmark at {root} are damaged or missing: "
                f"{', '.join(damaged[:5])}{' ...' if len(damaged) > 5 else ''}; re-rendering them")
        if at_least and found_counts is None:  # complete what is there, never shrink it
            on_disk = _counts_on_disk(root, config)
            counts = SynthCounts(**{k: max(v, on_disk[k]) for k, v in asdict(counts).items()})
        _generate(root, config, found_counts or counts, workers, log, verify)
        if damaged:
            say(f"synth: repaired {len(damaged)} file(s) in {root}")
    return root


def _counts_on_disk(root: Path, config: dict) -> dict[str, int]:
    """Items of each split already generated under ``root`` for ``config`` (0 for another config)."""
    found = dict.fromkeys(asdict(SynthCounts()), 0)
    if read_json(root / _STAMP) != config:
        return found
    folders = {"train": "inlier/train/images", "val": "inlier/val/images", "outlier_exposure": "outlier_exposure/images"}
    for key, folder in folders.items():
        found[key] = len(list((root / folder).glob("*.png")))
    found["test"] = min((len(list((root / "test" / name / "original").glob("*.png"))) for name in TEST_SETS), default=0)
    return found


def recorded_version(root: str | os.PathLike) -> str | None:
    """The benchmark version recorded under ``root`` (manifest, else the generation stamp); None if none."""
    for name in ("manifest.json", _STAMP):
        recorded = read_json(Path(root) / name)
        if isinstance(recorded, dict) and "version" in recorded:
            return str(recorded["version"])
    return None


def require_version(root: str | os.PathLike, version: str, key: str = "data.benchmark_version") -> None:
    """Refuse a benchmark folder that holds another version than the one a config asks for (training or
    evaluating on it would record the wrong benchmark); a folder without a benchmark passes."""
    found = recorded_version(root)
    if found is not None and found != str(version):
        raise InputError(
            f"the embedded benchmark at {root} is version {found}, but the config asks for version {version} "
            f"({key}); use that version's folder (--preset embedded-v1 for v1; the default for v3), "
            f"or set {key}={found} to use this one")


def _existing_version(root: Path) -> str:
    """The version recorded under ``root`` (manifest, else the generation stamp), else the default."""
    return recorded_version(root) or GENERATOR_VERSION


def _check_manifest(root: Path, config: dict, counts: SynthCounts, at_least: bool,
                    verify: bool) -> tuple[bool, list[str], SynthCounts | None]:
    """(ready, damaged files, counts of a matching manifest) for the manifest under ``root``.

    ``ready`` is True when the manifest matches and every file it lists has its recorded
    size (and SHA-256 with ``verify``); a manifest without sizes (an older pebal) is never
    ready, so the files are hashed once and the sizes recorded.
    """
    manifest = read_json(root / "manifest.json")
    if not isinstance(manifest, dict) or not all(manifest.get(k) == v for k, v in config.items()):
        return False, [], None
    found = manifest.get("counts") or {}
    wanted = asdict(counts)
    if at_least:
        enough = all(isinstance(found.get(k), int) and found[k] >= v for k, v in wanted.items())
    else:
        enough = found == wanted
    if not enough:
        return False, [], None
    files, sizes = manifest.get("files") or {}, manifest.get("sizes") or {}
    if any(rel not in sizes for rel in files):  # an older pebal's manifest: hashed once by _generate
        return False, [], SynthCounts(**found) if at_least else None
    damaged = []
    for rel, sha in files.items():
        state = file_state(root / rel, (sha, sizes[rel]), verify)
        if state != "ok":
            damaged.append(f"{rel} ({state})")
    return not damaged, damaged, SynthCounts(**found) if at_least else None


@contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on ``path`` (POSIX ``flock``; no locking where unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _generate(root: Path, config: dict, counts: SynthCounts, workers: int, log, verify: bool) -> None:
    seed, (h, w) = config["seed"], config["size"]
    manifest_path = root / "manifest.json"
    ledger = Ledger(root / _LEDGER)
    records = _records(root)
    _refuse_foreign(root, records)
    manifest = read_json(manifest_path)
    stamp = read_json(root / _STAMP)
    same = stamp == config or (stamp is None and isinstance(manifest, dict)
                               and all(manifest.get(k) == v for k, v in config.items()))
    if not same:  # another seed, size or version: every file recorded here is stale
        delete_owned(root, records)
        records = {}
    ledger.rewrite(records)  # ownership is kept while the manifest is gone
    write_bytes_atomically(root / _STAMP, json.dumps(config).encode())
    if manifest_path.exists():
        manifest_path.unlink()  # an interrupted run must never leave a manifest that claims completeness

    jobs = all_jobs(counts)
    metas = _read_test_meta(root)
    todo = []
    for split, index in jobs:
        rels = job_files(split, index)
        reusable = all(file_state(root / rel, records.get(rel), verify) == "ok" for rel in rels)
        if not reusable or (split in TEST_SETS and index not in metas[split]):
            todo.append((split, index))
    if log is not None:
        log(f"synth: {len(jobs) - len(todo)} of {len(jobs)} items cached, rendering {len(todo)} "
            f"with {workers} worker(s) into {root}")
    ledger.intend([rel for split, index in todo for rel in job_files(split, index)])
    for split, index, file_hashes, meta in _render(root, seed, (h, w), todo, workers, log, config["version"]):
        for rel, sha in file_hashes.items():
            records[rel] = (sha, (root / rel).stat().st_size)
        ledger.record({rel: records[rel] for rel in file_hashes})
        if split in TEST_SETS:
            metas[split][index] = meta
    expected = {rel for split, index in jobs for rel in job_files(split, index)}
    stale = {rel: rec for rel, rec in records.items() if rel not in expected}
    delete_owned(root, stale)
    for path in old_temporaries(root, set(records)):  # left by a killed run (an hour old: not a live writer's)
        path.unlink()
    for name in TEST_SETS:
        per_image = {f"{i:05d}": metas[name][i] for i in range(counts.test)}
        write_bytes_atomically(root / "test" / name / "anomalies.json", json.dumps(per_image, indent=1).encode())
    files = {rel: records[rel][0] for rel in sorted(expected)}
    digest = hashlib.sha256("".join(f"{rel} {sha}\n" for rel, sha in files.items()).encode()).hexdigest()
    manifest = {**config, "counts": asdict(counts), "train_ids": list(USED_TRAIN_IDS),
                "test_sets": {name: {"families": list(spec.families), "evaluate": spec.evaluate,
                                     "weather_shift": spec.shift}
                              for name, spec in test_set_specs(config["version"]).items()},
                "outlier_exposure_families": list(OE_FAMILIES), "anomaly_families": sorted(ANOMALY_FAMILIES),
                "png_encoder": "pebal.data.png_writer (Paeth, run-length deflate, fixed Huffman construction)",
                "numpy_version": np.__version__,  # for information: the golden test covers the output
                "content_sha256": digest, "files": files, "sizes": {rel: records[rel][1] for rel in files}}
    ledger.rewrite({rel: records[rel] for rel in files})
    write_bytes_atomically(manifest_path, json.dumps(manifest, indent=1).encode())


def _records(root: Path) -> dict:
    """The files the cache wrote under ``root``: the ledger's, and those of the manifest of a
    complete benchmark (also one written by an older pebal, which kept no ledger)."""
    records = Ledger(root / _LEDGER).read()
    manifest = read_json(root / "manifest.json")
    if isinstance(manifest, dict):
        sizes = manifest.get("sizes") or {}
        for rel, sha in (manifest.get("files") or {}).items():
            if records.get(rel) is None:
                records[rel] = (sha, sizes.get(rel))
    return records


def _refuse_foreign(root: Path, records: dict) -> None:
    foreign = foreign_files(root, set(records))
    if foreign:
        raise CacheConflictError(
            f"{root} cannot hold the embedded benchmark: {len(foreign)} file(s) in its generated folders "
            f"({', '.join(m + '/' for m in MANAGED)}) were not written by pebal synth, e.g. "
            f"{', '.join(foreign[:3])}; nothing was deleted or written. Move them elsewhere, or choose another "
            "--out / data.root")


def _read_test_meta(root: Path) -> dict[str, dict[int, dict]]:
    metas: dict[str, dict[int, dict]] = {name: {} for name in TEST_SETS}
    for name in TEST_SETS:
        data = read_json(root / "test" / name / "anomalies.json")
        if isinstance(data, dict):
            try:
                metas[name] = {int(k): v for k, v in data.items()}
            except ValueError:
                pass
    return metas


def _render(root: Path, seed: int, size, todo, workers: int, log, version: str = GENERATOR_VERSION):
    chunk = 16
    chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    done = 0
    if workers <= 1 or len(chunks) <= 1:
        results = (run_jobs(str(root), seed, size, c, version) for c in chunks)
        pool = None
    else:
        import multiprocessing

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(run_jobs, [str(root)] * len(chunks), [seed] * len(chunks), [size] * len(chunks), chunks,
                           [version] * len(chunks))
    try:
        for result in results:
            yield from result
            done += len(result)
            if log is not None and (done % 400 < chunk or done == len(todo)):
                log(f"synth: {done}/{len(todo)} rendered")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
