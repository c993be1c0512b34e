"""The per-pixel colour lookup classifier: majority per colour cell and its fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from pebal.evaluation.colour_baseline import ColourLookupClassifier


def _pixels(colours):
    return np.array(colours, dtype=np.uint8).reshape(1, len(colours), 3)


def test_majority_class_per_cell():
    # three pixels of one colour (classes 1, 1, 2), two of another (class 0), one ignored
    images = _pixels([(200, 10, 10)] * 3 + [(10, 200, 10)] * 2 + [(10, 10, 200)])
    labels = np.array([[1, 1, 2, 0, 0, 255]])
    clf = ColourLookupClassifier(num_classes=3, bits=5).fit(images, labels)
    # (205, 14, 12) lies in the same 5-bit cell as (200, 10, 10): 200 >> 3 == 205 >> 3
    np.testing.assert_array_equal(clf.predict(_pixels([(200, 10, 10), (205, 14, 12), (10, 200, 10)])), [[1, 1, 0]])


def test_unseen_cells_fall_back_to_coarser_grids_then_the_majority():
    images = _pixels([(0, 0, 0), (0, 0, 0), (255, 255, 255)])
    labels = np.array([[2, 2, 1]])
    clf = ColourLookupClassifier(num_classes=3, bits=3).fit(images, labels)
    # (40, 0, 0): 3-bit cell (1, 0, 0) unseen; 2-bit cell (0, 0, 0) holds the black pixels -> 2
    # (255, 0, 0): unseen at 3 and 2 bits; its 1-bit cell (1, 0, 0) also unseen -> majority 2
    # (200, 200, 200): unseen at 3 bits; 2-bit cell (3, 3, 3) holds the white pixel -> 1
    np.testing.assert_array_equal(clf.predict(_pixels([(40, 0, 0), (255, 0, 0), (200, 200, 200)])), [[2, 2, 1]])


def test_errors():
    clf = ColourLookupClassifier(num_classes=2)
    with pytest.raises(ValueError, match="call fit"):
        clf.predict(_pixels([(0, 0, 0)]))
    with pytest.raises(ValueError, match="labels outside"):
        clf.fit(_pixels([(0, 0, 0)]), np.array([[3]]))
