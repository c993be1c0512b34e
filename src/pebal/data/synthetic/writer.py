"""Rendering one file set per job: an inlier scene, an outlier-exposure cut-out, a test scene.

Every job draws from its own generator ``PCG64(SeedSequence([seed, split_code, index]))``,
so jobs can run in any order, in parallel, or be redone alone after an interruption, and
still give the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from pebal.data.image_io import write_png
from pebal.data.synthetic.canvas import crop_to_mask
from pebal.data.synthetic.families import OE_FAMILIES, OE_SHAPES, draw_oe
from pebal.data.synthetic.noise import F32, jitter, value_noise
from pebal.data.synthetic.scene import TEST_SETS, render_scene, test_set_specs
from pebal.labels import OUTLIER_INDEX

#: Stable integer code of each split in the seed sequence (never renumber: it changes the data).
SPLIT_CODES = {"train": 1, "val": 2, "outlier_exposure": 3, "road-obstacles": 11, "anomalies-shifted": 12}
INLIER_SPLITS = ("train", "val")


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of item ``index`` of ``split`` for the benchmark ``seed``."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, SPLIT_CODES[split], index])))


def job_files(split: str, index: int) -> list[str]:
    """Relative paths written by job (``split``, ``index``)."""
    if split in INLIER_SPLITS:
        return [f"inlier/{split}/images/{index:05d}.png", f"inlier/{split}/labels/{index:05d}.png"]
    if split == "outlier_exposure":
        family = OE_FAMILIES[index % len(OE_FAMILIES)]
        return [f"outlier_exposure/images/{family}_{index:05d}.png", f"outlier_exposure/masks/{family}_{index:05d}.png"]
    if split in TEST_SETS:
        return [f"test/{split}/original/{index:05d}.png", f"test/{split}/labels/{index:05d}.png"]
    raise ValueError(f"unknown split {split!r}")


def render_job(seed: int, size: tuple[int, int], split: str, index: int, version: str = "1") -> tuple[list[np.ndarray], dict]:
    """Pixel arrays of job (``split``, ``index``) of benchmark ``version`` in the order of
    :func:`job_files`, and its metadata (the inlier and outlier-exposure jobs do not depend on the version)."""
    rng = scene_rng(seed, split, index)
    if split in INLIER_SPLITS:
        scene = render_scene(rng, size)
        return [scene.image, scene.label], {}
    if split == "outlier_exposure":
        return render_cutout(rng, size, OE_FAMILIES[index % len(OE_FAMILIES)])
    scene = render_scene(rng, size, split, version=version)
    meta = {"anomalies": [{k: v for k, v in a.items() if k != "accepted"} for a in scene.meta["anomalies"]],
            "shift": scene.meta["shift"]}
    return [scene.image, scene.eval_label(test_set_specs(version)[split].evaluate)], meta


def render_cutout(rng: np.random.Generator, size: tuple[int, int], family: str) -> tuple[list[np.ndarray], dict]:
    """An outlier-exposure object on a random busy background, cropped tightly to the object.

    Returns ``[image (h, w, 3) uint8, mask (h, w) uint8 with 0 / 254]`` and ``{"family": ...}``.
    The object's longest side is 24-96 px at 256 columns (scaled with the image width).
    """
    width, height, _ = OE_SHAPES[family]
    target = float(rng.uniform(24, 96)) * size[1] / 256
    sprite = crop_to_mask(draw_oe(rng, family, target / max(width, height)))
    mask = sprite.mask
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    mask, rgb = mask[box], sprite.rgb[box]
    h, w = mask.shape
    field = value_noise(rng, (h, w), cell=max(2, w // 4), octaves=2)[..., None]
    background = jitter(rng, rng.random(3), 0.2) * (F32(1) - field) + jitter(rng, rng.random(3), 0.2) * field
    noise = (rng.random((h, w, 3), dtype=F32) - F32(0.5)) * F32(0.04)
    image = np.where(mask[..., None], rgb, background) + noise
    image = np.floor(np.clip(image, 0, 1) * F32(255) + F32(0.5)).astype(np.uint8)
    return [image, np.where(mask, OUTLIER_INDEX, 0).astype(np.uint8)], {"family": family}


def run_job(root: str, seed: int, size: tuple[int, int], split: str, index: int,
            version: str = "1") -> tuple[dict[str, str], dict]:
    """Render and write job (``split``, ``index``) under ``root``; returns ``({relpath: sha256}, meta)``."""
    arrays, meta = render_job(seed, size, split, index, version)
    hashes = {}
    for rel, array in zip(job_files(split, index), arrays):
        hashes[rel] = hashlib.sha256(write_png(Path(root) / rel, array)).hexdigest()
    return hashes, meta


def run_jobs(root: str, seed: int, size: tuple[int, int], jobs: list[tuple[str, int]], version: str = "1"):
    """:func:`run_job` over a chunk of jobs (one call per worker process)."""
    return [(split, index, *run_job(root, seed, size, split, index, version)) for split, index in jobs]
