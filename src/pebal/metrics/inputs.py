"""Turning (scores, labels) into validated numpy blocks of evaluated pixels.

Scores: numpy array or torch tensor, (P,) pixels, (H, W) or (N, H, W) maps, any floating
dtype, higher = more anomalous. float16 / bfloat16 are widened to float32 (exact); float32 and float64 are kept.
Labels: same shape, integer or bool, values in {0 (inlier), 1 (anomaly), ignore_index}.
Pixels labelled ``ignore_index`` are not evaluated, and their scores are not inspected (a
method may leave NaN there). Every evaluated score must be finite.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pebal.labels import ANOMALY, IGNORE_INDEX, INLIER
from pebal.metrics.errors import MetricInputError

#: Pixels handled per step; keeps temporaries in the allocator's reusable range (~16 MB).
CHUNK_PIXELS = 1 << 21


def image_name(i: int, first_image: int) -> str:
    """How errors name image ``i`` of an update whose first image has index ``first_image``."""
    if first_image == 0:
        return f"image {i}"
    return f"image {i} of this update (image {first_image + i} since reset)"


def _to_numpy(x, what: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()  # numpy has no bfloat16; the widening is exact
        return x.numpy()
    if isinstance(x, np.ndarray):
        return x
    raise MetricInputError(f"{what} must be a numpy array or a torch tensor, got {type(x).__name__}")


def as_score_array(scores, keep_dtype: bool = False) -> np.ndarray:
    """Scores as a float32 or float64 numpy array (float16 widened unless ``keep_dtype``)."""
    s = _to_numpy(scores, "scores")
    if not np.issubdtype(s.dtype, np.floating):
        raise MetricInputError(
            f"scores must have a floating dtype (higher = more anomalous), got {s.dtype}; "
            "cast them, e.g. scores.astype(np.float32)"
        )
    if s.dtype == np.float16 and not keep_dtype:
        s = s.astype(np.float32)
    elif s.dtype not in (np.float16, np.float32, np.float64):
        s = s.astype(np.float64)  # e.g. longdouble: compared at float64 resolution
    return s


def as_label_array(labels) -> np.ndarray:
    lab = _to_numpy(labels, "labels")
    if lab.dtype == np.bool_:
        return lab.view(np.uint8)
    if not np.issubdtype(lab.dtype, np.integer):
        raise MetricInputError(
            f"labels must be integer (0 inlier, 1 anomaly, 255 void) or bool, got dtype {lab.dtype}"
        )
    return lab


def as_batch(scores, labels, keep_dtype: bool = False, flat: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validated shapes: both (N, H, W); an (H, W) pair becomes N = 1, a flat (P,) pair (1, 1, P).

    ``flat=False`` refuses (P,) pixels (component metrics need the image's 2-D neighbourhoods).
    """
    s = as_score_array(scores, keep_dtype)
    lab = as_label_array(labels)
    if s.shape != lab.shape:
        raise MetricInputError(
            f"scores and labels must have the same shape (P,), (H, W) or (N, H, W); "
            f"got scores {s.shape} and labels {lab.shape}"
        )
    if s.ndim == 1 and flat:
        return s[None, None], lab[None, None]
    if s.ndim == 2:
        return s[None], lab[None]
    if s.ndim != 3:
        raise MetricInputError(
            f"expected (P,) pixels or (H, W) / (N, H, W) maps, got {s.ndim}-d arrays of shape {s.shape}"
        )
    return s, lab


def check_labels(lab: np.ndarray, ignore_index: int, where: str) -> None:
    bad = (lab != INLIER) & (lab != ANOMALY)
    if ignore_index is not None:
        bad &= lab != ignore_index
    if bad.any():
        found = np.unique(lab[bad])
        shown = ", ".join(str(v) for v in found[:8]) + (" ..." if found.size > 8 else "")
        raise MetricInputError(
            f"{where}: {int(bad.sum())} label(s) outside {{0, 1, {ignore_index}}}: found {shown}. "
            "Convert the data set's labels to 0 inlier / 1 anomaly / void first."
        )


def check_finite(scores: np.ndarray, labels: np.ndarray, ignore_index: int, where: str) -> None:
    """Every score of a pixel that is not void must be finite."""
    finite = np.isfinite(scores)
    if finite.all():
        return
    bad = ~finite
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        raise MetricInputError(
            f"{where}: {int(bad.sum())} evaluated score(s) are not finite (first: {scores.reshape(-1)[first]} "
            "in this image's flattened pixels); every pixel that is not void needs a finite score"
        )


def iter_evaluated(
    scores: np.ndarray,
    labels: np.ndarray,
    ignore_index: int = IGNORE_INDEX,
    first_image: int = 0,
    chunk: int | None = CHUNK_PIXELS,
    validate: bool = True,
    positives: bool = True,
    negatives: bool = True,
) -> Iterator[tuple[int, np.ndarray | None, np.ndarray | None]]:
    """Yield ``(image, positive_scores, negative_scores)``, 1-D, image by image.

    ``scores``, ``labels`` are (N, H, W) from :func:`as_batch`. Large images come in pieces of
    at most ``chunk`` pixels (``None``: whole images). With ``positives`` / ``negatives`` False
    that part is not extracted (None). Raises :class:`MetricInputError` naming the image on a
    label outside {0, 1, ignore_index} or a non-finite evaluated score.
    """
    for i in range(scores.shape[0]):
        s_img = scores[i].reshape(-1)
        l_img = labels[i].reshape(-1)
        step = max(s_img.size if chunk is None else chunk, 1)
        for start in range(0, max(s_img.size, 1), step):
            s = s_img[start : start + step]
            lab = l_img[start : start + step]
            if validate:
                where = image_name(i, first_image)
                check_labels(lab, ignore_index, where)
                check_finite(s, lab, ignore_index, where)
            pos = s[lab == ANOMALY] if positives else None
            neg = s[lab == INLIER] if negatives else None
            yield i, pos, neg
