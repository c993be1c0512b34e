"""The deterministic PNG encoder: decodable by Pillow and zlib, lossless, byte-stable."""

import hashlib
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from pebal.data.png_writer import deflate, encode_png, paeth_filter


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (37, 64, 3), (128, 256, 3), (3, 600)])
def test_roundtrip_random_and_smooth(shape):
    rng = np.random.default_rng(sum(shape))
    noisy = rng.integers(0, 256, shape, dtype=np.uint8)
    smooth = (np.cumsum(rng.integers(-2, 3, shape), axis=1) % 256).astype(np.uint8)
    for array in (noisy, smooth, np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)):
        assert np.array_equal(_decode(encode_png(array)), array)


def test_deflate_runs_of_every_length_decode_with_zlib():
    # Runs around the match limits: 1..4 (literals vs first match), 258/259/261/262 (a full
    # match plus 0, 1, 3, 4 left over), long runs needing several 258-byte matches.
    pieces = [bytes([i % 3]) * n for i, n in enumerate([1, 2, 3, 4, 5, 258, 259, 260, 261, 262, 517, 1000, 3])]
    for data in [b"", b"a", b"".join(pieces), bytes(range(256)) * 4]:
        assert zlib.decompressobj(-15).decompress(deflate(data)) == data
    rng = np.random.default_rng(0)
    for _ in range(50):
        data = np.repeat(rng.integers(0, 4, 40).astype(np.uint8), rng.integers(1, 700, 40)).tobytes()
        assert zlib.decompressobj(-15).decompress(deflate(data)) == data


def test_paeth_filter_matches_the_png_definition():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    filtered = np.frombuffer(paeth_filter(image), np.uint8).reshape(4, 16)
    raw = image.reshape(4, 15).astype(int)
    for y in range(4):
        assert filtered[y, 0] == 4
        for x in range(15):  # the slow, direct predictor of the PNG specification
            a = raw[y, x - 3] if x >= 3 else 0
            b = raw[y - 1, x] if y >= 1 else 0
            c = raw[y - 1, x - 3] if x >= 3 and y >= 1 else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            assert filtered[y, 1 + x] == (raw[y, x] - pred) % 256


def test_label_maps_compress_well_and_bytes_are_golden():
    label = np.zeros((128, 256), np.uint8)
    label[60:, :] = 0
    label[:60, :] = 10
    label[80:100, 40:90] = 13
    data = encode_png(label)
    assert len(data) < 600  # run-length matches make flat maps tiny (raw: 32 KiB)
    # The encoder is a fixed algorithm: these bytes must not change between machines or versions.
    assert hashlib.sha256(data).hexdigest() == GOLDEN_LABEL_PNG


def test_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((2, 2, 4), np.uint8))


GOLDEN_LABEL_PNG = "c3ecada6d10f5c6ff4f63b66437c8ed8447abc0a2434f7f02ed4cb55ad53decf"
