"""Deterministic noise, blur and colour helpers for the procedural benchmark.

Determinism across machines: every random number comes from a ``numpy.random.Generator``
through ``random`` / ``integers`` (bit-exact on every platform), and every array operation
on floats is one of ``+ - * /``, ``sqrt``, ``floor``, comparisons or table look-ups, which
IEEE 754 rounds identically everywhere. Vectorised transcendental functions (``np.exp``,
``np.sin``, ``np.power``...) are avoided because numpy dispatches them to SIMD code that may
differ by an ulp between CPUs; rotations use the rational parametrisation of the circle and
smooth curves use polynomials.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

F32 = np.float32


@lru_cache(maxsize=64)
def _interp_axis(n: int, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer cell index and smoothstep weight ``3t^2 - 2t^3`` of ``n`` pixel centres."""
    pos = (np.arange(n, dtype=F32) + F32(0.5)) / F32(cell)
    index = np.floor(pos).astype(np.int64)
    t = pos - index.astype(F32)
    weight = t * t * (F32(3) - F32(2) * t)
    index.setflags(write=False)
    weight.setflags(write=False)
    return index, weight


def value_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float, octaves: int = 1) -> np.ndarray:
    """Smooth random field (H, W) float32 in [0, 1): lattice noise with ``cell`` px spacing.

    Each octave halves the cell size and the amplitude; the result is renormalised by the
    sum of amplitudes.
    """
    h, w = shape
    total = np.zeros((h, w), F32)
    amplitude, norm = F32(1), F32(0)
    cell_px = max(1, int(round(cell)))
    for _ in range(octaves):
        iy, ty = _interp_axis(h, cell_px)
        ix, tx = _interp_axis(w, cell_px)
        grid = rng.random((int(iy[-1]) + 2, int(ix[-1]) + 2), dtype=F32)
        rows = grid[iy] + (grid[iy + 1] - grid[iy]) * ty[:, None]
        field = rows[:, ix] + (rows[:, ix + 1] - rows[:, ix]) * tx[None, :]
        total += amplitude * field
        norm += amplitude
        amplitude *= F32(0.5)
        cell_px = max(1, cell_px // 2)
    return total / norm


def sample_tile(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear look-up of a periodic tile (T, T) at real coordinates ``u`` (columns), ``v`` (rows)."""
    size = tile.shape[0]
    fu, fv = np.floor(u), np.floor(v)
    tu, tv = (u - fu).astype(F32), (v - fv).astype(F32)
    iu = fu.astype(np.int64) % size
    iv = fv.astype(np.int64) % size
    iu1, iv1 = (iu + 1) % size, (iv + 1) % size
    top = tile[iv, iu] + (tile[iv, iu1] - tile[iv, iu]) * tu
    bottom = tile[iv1, iu] + (tile[iv1, iu1] - tile[iv1, iu]) * tu
    return top + (bottom - top) * tv


def hash_table(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A (size, size) float32 table of uniform values, indexed by integer cell coordinates."""
    return rng.random((size, size), dtype=F32)


def cell_value(table: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``table`` at integer cells ``(i, j)`` (any integers; wrapped)."""
    size = table.shape[0]
    return table[np.asarray(i, np.int64) % size, np.asarray(j, np.int64) % size]


def blur3(image: np.ndarray, axes: tuple[bool, bool] = (True, True)) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur of (H, W) or (H, W, C) along rows / columns, edges replicated."""
    out = image
    for axis, on in enumerate(axes):
        if not on or out.shape[axis] < 2:
            continue
        src = np.moveaxis(out, axis, 0)
        res = np.empty_like(src)
        res[1:-1] = (src[:-2] + src[1:-1] * F32(2) + src[2:]) * F32(0.25)
        res[0] = (src[0] * F32(3) + src[1]) * F32(0.25)
        res[-1] = (src[-1] * F32(3) + src[-2]) * F32(0.25)
        out = np.moveaxis(res, 0, axis)
    return out


def sample_tile_nearest(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Nearest-cell look-up of a periodic tile (cheaper than :func:`sample_tile`, blocky up close)."""
    size = tile.shape[0]
    return tile[np.floor(v).astype(np.int64) % size, np.floor(u).astype(np.int64) % size]


def rotation(rng: np.random.Generator, max_turn: float) -> tuple[float, float]:
    """(cos, sin) of a random angle of at most about ``max_turn`` * 90 degrees, without trigonometry.

    Uses ``t = tan(angle / 2)`` uniform in ``[-max_turn, max_turn]`` and
    ``cos = (1 - t^2) / (1 + t^2)``, ``sin = 2t / (1 + t^2)``.
    """
    t = float(rng.uniform(-max_turn, max_turn))
    d = 1.0 + t * t
    return (1.0 - t * t) / d, 2.0 * t / d


def jitter(rng: np.random.Generator, colour, amount: float) -> np.ndarray:
    """``colour`` (3,) with a common brightness change and a per-channel change, clipped to [0, 1]."""
    r = rng.random(4) * 2.0 - 1.0
    out = np.asarray(colour, np.float64) * (1.0 + amount * r[0]) + (amount * 0.5) * r[1:]
    return np.clip(out, 0, 1).astype(F32)


def pick(rng: np.random.Generator, palette) -> np.ndarray:
    """One colour (3,) float32 from a list of RGB triples."""
    return np.asarray(palette[int(rng.integers(len(palette)))], F32)


def inverse_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A value in ``[low, high]`` with density proportional to ``1 / x^2`` (favours small values).

    ``x = 1 / (1/low - r (1/low - 1/high))`` with ``r`` uniform: a scale-free-looking
    size distribution from rational operations only (no ``pow``/``exp``).
    """
    r = float(rng.random())
    return 1.0 / (1.0 / low - r * (1.0 / low - 1.0 / high))
