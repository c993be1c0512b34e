"""FolderDataset (Fishyscapes layout) and image_io: pairing, conversions, clear errors."""

import numpy as np
import pytest
from PIL import Image

from pebal.data import open_dataset
from pebal.data.folder import FolderDataset
from pebal.data.image_io import ImageReadError, read_image, read_label, write_png


def _make(root, names=("a", "b"), size=(6, 8), image_ext=".png", label_values=(0, 1, 255)):
    (root / "original").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for name in names:
        image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        Image.fromarray(image).save(root / "original" / f"{name}{image_ext}", quality=95)
        label = rng.choice(np.array(label_values, np.uint8), size)
        write_png(root / "labels" / f"{name}.png", label)
    return root


def test_items_pair_by_stem_and_keep_pixels(tmp_path):
    root = _make(tmp_path / "set", names=("b", "a", "c"))
    data = FolderDataset(root)
    assert len(data) == 3 and data.names == ["a", "b", "c"]
    item = data[1]
    assert item["name"] == "b"
    assert item["image"].dtype == np.uint8 and item["image"].shape == (6, 8, 3)
    assert np.array_equal(item["image"], np.asarray(Image.open(root / "original" / "b.png")))
    assert np.array_equal(item["label"], np.asarray(Image.open(root / "labels" / "b.png")))
    assert set(np.unique(item["label"])) <= {0, 1, 255}
    assert open_dataset("folder", root)[0]["name"] == "a"


@pytest.mark.parametrize("ext", [".jpg", ".webp"])
def test_other_image_formats(tmp_path, ext):
    data = FolderDataset(_make(tmp_path / "set", image_ext=ext))
    assert data[0]["image"].shape == (6, 8, 3)


def test_missing_pair_is_named(tmp_path):
    root = _make(tmp_path / "set")
    (root / "labels" / "b.png").unlink()
    with pytest.raises(ValueError, match=r"1 image\(s\) without a label.*e\.g\. b"):
        FolderDataset(root)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="images folder not found"):
        FolderDataset(tmp_path)


def test_corrupt_image_names_the_file(tmp_path):
    root = _make(tmp_path / "set")
    (root / "original" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    data = FolderDataset(root)
    with pytest.raises(ImageReadError, match=r"a\.png"):
        data[0]


def test_size_mismatch_and_bad_values(tmp_path):
    root = _make(tmp_path / "set")
    write_png(root / "labels" / "a.png", np.zeros((5, 8), np.uint8))
    write_png(root / "labels" / "b.png", np.array([[0, 2, 7, 255]] * 6 + [[0] * 4] * 0, np.uint8).repeat(2, axis=1))
    data = FolderDataset(root)
    with pytest.raises(ValueError, match=r"size mismatch.*a\.png.*8x5"):
        data[0]
    with pytest.raises(ValueError, match=r"b\.png: values \[2, 7\] outside \[0, 1, 255\]"):
        data[1]


def test_label_map_and_suffix(tmp_path):
    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    write_png(root / "images" / "x.png", np.zeros((2, 3, 3), np.uint8))
    write_png(root / "masks" / "x_labels_semantic.png", np.array([[0, 1, 2], [2, 1, 0]], np.uint8))
    data = FolderDataset(root, images="images", labels="masks", label_map={1: 0, 2: 1}, label_suffix="_labels_semantic")
    assert data[0]["label"].tolist() == [[0, 0, 1], [1, 0, 0]]
    lut = np.arange(256, dtype=np.uint8)
    lut[2] = 255
    assert FolderDataset(root, "images", "masks", lut, "_labels_semantic")[0]["label"].tolist() == [[0, 1, 255], [255, 1, 0]]


def test_read_label_modes(tmp_path):
    ids = np.array([[0, 3], [7, 255]], np.uint8)
    palette = Image.fromarray(ids, mode="L").convert("P")
    palette.putpalette([255 - (i % 256) for i in range(768)])  # colours unrelated to the ids
    palette.save(tmp_path / "p.png")
    assert read_label(tmp_path / "p.png").tolist() == ids.tolist()
    Image.fromarray(ids.astype(np.uint16) * 1).save(tmp_path / "i16.png")
    assert read_label(tmp_path / "i16.png").tolist() == ids.tolist()
    Image.fromarray(np.array([[300, 0]], np.uint16)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match=r"big\.png.*0\.\.255"):
        read_label(tmp_path / "big.png")
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (128, 64, 128)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(ImageReadError, match="colour-coded"):
        read_label(tmp_path / "rgb.png")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_png_gamma_chunk_is_not_applied(tmp_path):
    import struct
    import zlib

    from pebal.data.png_writer import encode_png

    pixels = np.full((2, 2, 3), 100, np.uint8)
    data = encode_png(pixels)
    # Insert a strong gAMA chunk (gamma 0.3) after IHDR, as LostAndFound files carry one.
    payload = b"gAMA" + struct.pack(">I", 30000)
    chunk = struct.pack(">I", 4) + payload + struct.pack(">I", zlib.crc32(payload))
    (tmp_path / "g.png").write_bytes(data[:33] + chunk + data[33:])
    assert b"gAMA" in (tmp_path / "g.png").read_bytes()
    assert read_image(tmp_path / "g.png").tolist() == pixels.tolist()
