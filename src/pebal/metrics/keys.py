"""Order-preserving integer keys for floating-point scores.

A float's bit pattern, read as an unsigned integer, sorts like the float once negative values
are flipped: for a float32 with bits ``u``,

    key = ~u               if the sign bit is set (negative numbers, reversed order)
    key = u | 0x80000000   otherwise

(float64 the same with 64 bits). ``-0.0`` is first turned into ``+0.0`` so that the two zeros,
which compare equal, share one key. Equal floats get equal keys and ``a < b`` iff
``key(a) < key(b)``; integer keys sort, compare and add exactly, which is what makes the
metrics exact and mergeable bit for bit.

float16 and bfloat16 scores are widened to float32 (exact) and use 32-bit keys; float64 scores
use 64-bit keys so that no two distinct scores are merged.
"""

from __future__ import annotations

import numpy as np

#: Bits of a 32-bit key below its page number: a page holds 2**PAGE_BITS consecutive keys
#: (:mod:`pebal.metrics.store` counts inliers per page).
PAGE_BITS = 12
PAGE = 1 << PAGE_BITS
NUM_PAGES = 1 << (32 - PAGE_BITS)

_SPEC = {
    32: (np.float32, np.uint32, np.int32),
    64: (np.float64, np.uint64, np.int64),
}


def key_bits_for(dtype: np.dtype) -> int:
    """32 for float16/float32 scores, 64 for float64."""
    return 64 if np.dtype(dtype) == np.float64 else 32


def float_dtype(bits: int) -> type:
    return _SPEC[bits][0]


def key_dtype(bits: int) -> type:
    return _SPEC[bits][1]


def to_keys(values: np.ndarray) -> np.ndarray:
    """Keys of a 1-D float32 or float64 array (a new array; ``values`` is not modified)."""
    bits = key_bits_for(values.dtype)
    fdt, udt, idt = _SPEC[bits]
    x = np.add(values, fdt(0.0), dtype=fdt)  # copy that also maps -0.0 to +0.0
    u = x.view(udt)
    # arithmetic shift of the sign bit gives all-ones for negatives, zero otherwise
    mask = (x.view(idt) >> (bits - 1)).view(udt)
    mask |= udt(1 << (bits - 1))
    np.bitwise_xor(u, mask, out=mask)
    return mask


def from_keys(keys: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`to_keys`: the float values (float32 for 32-bit keys, float64 for 64)."""
    fdt, udt, _ = _SPEC[bits]
    k = np.asarray(keys, dtype=udt)
    top = udt(1 << (bits - 1))
    u = np.where(k & top, k ^ top, ~k)
    return u.view(fdt)


def widen_keys(keys: np.ndarray) -> np.ndarray:
    """32-bit keys of float32 values -> 64-bit keys of the same values as float64 (exact)."""
    return to_keys(from_keys(keys, 32).astype(np.float64))
