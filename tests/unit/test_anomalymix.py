"""AnomalyMix and MixedDataset: exact pasting, seeding, flips, scales, placement, batches."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from pebal.data.anomalymix import AnomalyMix
from pebal.data.mixed import MixedDataset
from pebal.data.outliers import ObjectListSource

OUT = 254


def _blob(rng, h, w, name, cls="thing", full=False):
    """A random-coloured object with an irregular (or full) mask touching every box edge."""
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.ones((h, w), bool) if full else rng.random((h, w)) < 0.6
    mask[0, 0] = mask[-1, -1] = True
    return image, mask, cls, name


def _source(seed=0, shapes=((5, 7), (4, 3), (6, 6)), full=False):
    rng = np.random.default_rng(seed)
    return ObjectListSource([_blob(rng, h, w, f"o{i}", cls=f"c{i}", full=full) for i, (h, w) in enumerate(shapes)])


def _frame(seed=1, h=30, w=40):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 19, (h, w), dtype=np.uint8)


def _pasted_region(paste, obj_image, obj_mask, frame_shape):
    full = np.zeros(frame_shape, bool)
    full[paste.top:paste.top + paste.height, paste.left:paste.left + paste.width] = obj_mask
    return full


def test_pasted_pixels_are_the_object_and_labelled_254_rest_unchanged():
    src = _source()
    mix = AnomalyMix(src, probability=1.0, flip=0.0)
    image, label = _frame()
    image0, label0 = image.copy(), label.copy()
    for seed in range(10):
        result = mix.apply(image, label, np.random.default_rng(seed))
        (paste,) = result.pastes
        obj = src[paste.object_index]
        assert (paste.height, paste.width) == obj.mask.shape and paste.placement == "uniform"
        box = (slice(paste.top, paste.top + paste.height), slice(paste.left, paste.left + paste.width))
        np.testing.assert_array_equal(result.image[box][obj.mask], obj.image[obj.mask])
        assert (result.label[box][obj.mask] == OUT).all()
        pasted = _pasted_region(paste, obj.image, obj.mask, label.shape)
        np.testing.assert_array_equal(result.image[~pasted], image[~pasted])
        np.testing.assert_array_equal(result.label[~pasted], label[~pasted])
        assert (result.label == OUT).sum() == obj.mask.sum() == paste.pixels
    np.testing.assert_array_equal(image, image0)  # inputs untouched
    np.testing.assert_array_equal(label, label0)


def test_same_seed_same_result_and_the_seed_matters():
    mix = AnomalyMix(_source(), probability=0.7, scale_range=(0.5, 1.5), flip=0.5, max_objects=3)
    image, label = _frame()
    a = mix.apply(image, label, np.random.default_rng(42))
    b = mix.apply(image, label, np.random.default_rng(42))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label, b.label)
    assert a.pastes == b.pastes
    others = {mix.apply(image, label, np.random.default_rng(s)).pastes for s in range(10)}
    assert len(others) > 5


def test_uniform_placement_reaches_every_position():
    src = _source(shapes=((4, 5),), full=True)
    mix = AnomalyMix(src, flip=0.0)
    image, label = _frame(h=6, w=7)  # 3 x 3 possible top-left corners
    corners = {(p.top, p.left) for s in range(200) for p in mix.apply(image, label, np.random.default_rng(s)).pastes}
    assert corners == {(t, l) for t in range(3) for l in range(3)}


def test_flip_probability_one_mirrors_zero_does_not_half_is_half():
    src = _source(shapes=((5, 7),))
    obj = src[0]
    image, label = _frame()
    for flip, expect in ((1.0, True), (0.0, False)):
        result = AnomalyMix(src, flip=flip).apply(image, label, np.random.default_rng(3))
        (p,) = result.pastes
        assert p.flipped is expect
        m = obj.mask[:, ::-1] if expect else obj.mask
        im = obj.image[:, ::-1] if expect else obj.image
        box = (slice(p.top, p.top + p.height), slice(p.left, p.left + p.width))
        np.testing.assert_array_equal(result.label[box] == OUT, m)
        np.testing.assert_array_equal(result.image[box][m], im[m])
    mix = AnomalyMix(src, flip=True)
    flips = [mix.apply(image, label, np.random.default_rng(s)).pastes[0].flipped for s in range(400)]
    assert 0.4 < np.mean(flips) < 0.6


def test_scale_range_is_respected():
    src = _source(shapes=((20, 16),), full=True)
    image, label = _frame(h=64, w=64)
    result = AnomalyMix(src, scale_range=(0.5, 0.5), flip=0).apply(image, label, np.random.default_rng(0))
    (p,) = result.pastes
    assert (p.height, p.width, p.scale) == (10, 8, 0.5)
    assert (result.label == OUT).sum() == 80  # a full mask stays full
    mix = AnomalyMix(src, scale_range=(0.5, 2.0), flip=0)
    scales = []
    for s in range(60):
        (p,) = mix.apply(image, label, np.random.default_rng(s)).pastes
        assert 0.5 <= p.scale <= 2.0
        assert (p.height, p.width) == (round(20 * p.scale), round(16 * p.scale))
        scales.append(p.scale)
    assert min(scales) < 0.8 and max(scales) > 1.7  # the range is actually used


def test_rescaled_pixels_come_from_a_bilinear_resize():
    # a constant-colour object stays exactly that colour after any resize
    obj = (np.full((9, 9, 3), (10, 200, 30), np.uint8), np.ones((9, 9), bool), None, "flat")
    mix = AnomalyMix(ObjectListSource([obj]), scale_range=(0.3, 1.7), flip=0)
    image, label = _frame()
    result = mix.apply(image, label, np.random.default_rng(5))
    assert (result.image[result.label == OUT] == (10, 200, 30)).all()


def test_drivable_placement_puts_the_bottom_centre_on_road():
    src = _source(shapes=((5, 7), (4, 3), (6, 6)))
    image, label = _frame(h=40, w=60)
    label = np.where(label == 0, 1, label).astype(np.uint8)  # no road ...
    label[25:40, 10:30] = 0  # ... except this patch
    label[0:3, 50:60] = 0  # and a strip too high for any object to stand on
    mix = AnomalyMix(src, placement="drivable", flip=0.5, max_objects=1)
    for s in range(50):
        (p,) = mix.apply(image, label, np.random.default_rng(s)).pastes
        assert p.placement == "drivable"
        r, c = p.top + p.height - 1, p.left + p.width // 2
        assert label[r, c] == 0 and 25 <= r < 40 and 10 <= c < 30
    no_road = np.where(label == 0, 2, label).astype(np.uint8)
    (p,) = mix.apply(image, no_road, np.random.default_rng(0)).pastes
    assert p.placement == "uniform-fallback"
    only_high = np.ones_like(label)
    only_high[0:3] = 0  # road exists but every object is taller than 3 rows
    (p,) = mix.apply(image, only_high, np.random.default_rng(0)).pastes
    assert p.placement == "uniform-fallback"


def test_object_larger_than_the_frame_is_shrunk_to_fit():
    src = _source(shapes=((50, 80),), full=True)
    image, label = _frame(h=20, w=30)
    result = AnomalyMix(src, flip=0).apply(image, label, np.random.default_rng(0))
    (p,) = result.pastes
    assert p.fitted and p.height <= 20 and p.width <= 30
    assert abs(p.width / p.height - 80 / 50) < 0.1  # aspect kept
    assert (result.label == OUT).sum() == p.pixels == p.height * p.width
    small = AnomalyMix(_source(shapes=((5, 5),)), flip=0).apply(image, label, np.random.default_rng(0))
    assert not small.pastes[0].fitted


def test_probability_zero_one_and_between():
    image, label = _frame()
    never = AnomalyMix(_source(), probability=0.0)
    for s in range(20):
        r = never.apply(image, label, np.random.default_rng(s))
        assert not r.mixed and r.image is not image
        np.testing.assert_array_equal(r.image, image)
        np.testing.assert_array_equal(r.label, label)
    always = AnomalyMix(_source(), probability=1.0)
    assert all(always.apply(image, label, np.random.default_rng(s)).mixed for s in range(20))
    some = AnomalyMix(_source(), probability=0.3)
    rate = np.mean([some.apply(image, label, np.random.default_rng(s)).mixed for s in range(500)])
    assert 0.24 < rate < 0.36
    out_image, out_label = always(image, label, np.random.default_rng(0))  # the plain call
    assert (out_label == OUT).any() and out_image.shape == image.shape


def test_max_objects():
    mix = AnomalyMix(_source(), max_objects=3)
    image, label = _frame()
    counts = {len(mix.apply(image, label, np.random.default_rng(s)).pastes) for s in range(100)}
    assert counts == {1, 2, 3}


def test_mix_batch_mixes_exactly_count_images():
    mix = AnomalyMix(_source(), probability=0.0)  # probability does not apply to mix_batch
    rng = np.random.default_rng(9)
    images = rng.integers(0, 256, (5, 16, 20, 3), dtype=np.uint8)
    labels = rng.integers(0, 19, (5, 16, 20), dtype=np.uint8)
    out = mix.mix_batch(images, labels, np.random.default_rng(1), count=2)
    assert len(out.mixed_indices) == 2 and set(out.pastes) == set(out.mixed_indices)
    has_outlier = [(out.labels[i] == OUT).any() for i in range(5)]
    assert [i for i in range(5) if has_outlier[i]] == list(out.mixed_indices)
    for i in set(range(5)) - set(out.mixed_indices):
        np.testing.assert_array_equal(out.images[i], images[i])
    assert isinstance(out.images, np.ndarray) and out.images.shape == images.shape
    assert not (labels == OUT).any()  # inputs untouched
    again = mix.mix_batch(images, labels, np.random.default_rng(1), count=2)
    np.testing.assert_array_equal(again.images, out.images)
    assert mix.mix_batch(images, labels, np.random.default_rng(1), count=0).mixed_indices == ()
    listed = mix.mix_batch([images[0], images[1][:10]], [labels[0], labels[1][:10]], np.random.default_rng(2), count=2)
    assert listed.mixed_indices == (0, 1) and listed.images[1].shape == (10, 20, 3)
    with pytest.raises(ValueError, match=r"count must be an integer in \[0, 5\]"):
        mix.mix_batch(images, labels, np.random.default_rng(1), count=6)


def test_bad_inputs():
    mix = AnomalyMix(_source())
    image, label = _frame()
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        mix(image, label, 0)
    with pytest.raises(ValueError, match="uint8 RGB image"):
        mix(image.astype(np.float32), label, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"label shape \(29, 40\) does not match image shape \(30, 40\)"):
        mix(image, label[:29], np.random.default_rng(0))
    with pytest.raises(ValueError, match="placement must be one of"):
        AnomalyMix(_source(), placement="sky")
    with pytest.raises(ValueError, match="scale_range"):
        AnomalyMix(_source(), scale_range=(2.0, 1.0))


# ----------------------------------------------------------------------------- MixedDataset


class _Base:
    def __init__(self, n=6):
        self.items = []
        for i in range(n):
            image, label = _frame(seed=100 + i, h=24, w=32)
            self.items.append({"image": image, "label": label, "name": f"img{i}"})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_mixed_dataset_is_deterministic_per_epoch_and_index_whatever_the_order():
    mix = AnomalyMix(_source(), probability=0.5, scale_range=(0.8, 1.2))
    a = MixedDataset(_Base(), mix, seed=7, extra_mixed=3)
    b = pickle.loads(pickle.dumps(a))  # what a spawned worker gets
    assert len(a) == 9
    forward = [a[i] for i in range(9)]
    backward = [b[i] for i in reversed(range(9))][::-1]
    for x, y in zip(forward, backward):
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["label"], y["label"])
        assert x["name"] == y["name"] and x["mixed"] == y["mixed"]
    assert all(item["mixed"] for item in forward[6:])
    assert all((item["label"] == OUT).any() == item["mixed"] for item in forward)
    a.set_epoch(1)
    epoch1 = [a[i] for i in range(9)]
    assert any(not np.array_equal(x["label"], y["label"]) for x, y in zip(forward, epoch1))
    c = MixedDataset(_Base(), mix, seed=8, extra_mixed=3)
    assert any(not np.array_equal(x["label"], c[i]["label"]) for i, x in enumerate(forward))


def test_mixed_dataset_extra_samples_use_distinct_objects_and_transform_gets_its_own_rng():
    src = _source(shapes=[(3, 3)] * 5)
    seen = []

    def transform(item, rng):
        seen.append(rng.integers(1 << 30))
        return {**item, "tag": seen[-1]}

    ds = MixedDataset(_Base(2), AnomalyMix(src, probability=0.0), seed=0, extra_mixed=5,
                      transform=transform, return_record=True)
    items = [ds[i] for i in range(len(ds))]
    assert not items[0]["mixed"] and items[0]["anomalymix"] == ()
    objects = [item["anomalymix"][0].name for item in items[2:]]
    assert sorted(objects) == ["o0", "o1", "o2", "o3", "o4"]  # each object once per epoch
    assert items[2]["name"].endswith("+" + objects[0])
    assert ds[3]["tag"] == items[3]["tag"]  # the transform's generator is seeded too
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        MixedDataset(_Base(), AnomalyMix(src), seed=-1)
