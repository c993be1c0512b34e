"""``MixedDataset``: a training data set with AnomalyMix applied reproducibly per (epoch, index).

Sample ``i`` of epoch ``e`` draws all its randomness from
``np.random.SeedSequence([1, seed, e, i])`` (split into one stream for AnomalyMix and one for
the optional ``transform``), so a sample is the same whatever the number of data-loader
workers or the order in which they ask for it, and changes from epoch to epoch.

Two ways to mix, combinable:

* each base sample is mixed with ``mix.probability``;
* ``extra_mixed = M`` appends M samples per epoch, each a base image drawn at random with
  one object pasted for sure — the reference's scheme (2975 Cityscapes images + 297 mixed
  ones, i.e. ``AnomalyMix(..., probability=0)`` and ``extra_mixed=297``). With
  ``distinct_objects=True`` (default) the M objects of an epoch are distinct while the pool
  allows it: object of extra sample ``j`` = ``perm_e[j mod P]`` for a per-epoch permutation
  ``perm_e`` of the pool of size P, drawn from ``SeedSequence([2, seed, e])``.

Call :meth:`MixedDataset.set_epoch` at the start of every epoch. With a PyTorch
``DataLoader`` use ``persistent_workers=False`` (the default), so workers see the new epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pebal.data.anomalymix import AnomalyMix

_SAMPLE_TAG = 1  # first entropy word: keeps per-sample and per-epoch streams apart
_EPOCH_TAG = 2


class MixedDataset:
    """Wrap ``base`` (items ``{"image", "label", "name"}``) with AnomalyMix.

    Args:
        base: sized, indexable data set of training items (train-id labels).
        mix: the :class:`AnomalyMix` to apply.
        seed: non-negative integer; with the epoch and index it fixes every sample.
        extra_mixed: number of additional always-mixed samples per epoch (see module doc).
        distinct_objects: give the extra samples of an epoch distinct objects.
        transform: optional ``transform(item, rng) -> item`` run after mixing (e.g. the
            random scale/crop/flip), with its own seeded generator.
        return_record: add ``item["anomalymix"]`` = tuple of :class:`~pebal.data.anomalymix.Paste`
            (off by default: a default collate cannot batch those records).

    Items gain ``"mixed": bool`` (an object was pasted before any transform). Extra samples
    are named ``"<base name>+<object name>"``.
    """

    def __init__(self, base, mix: AnomalyMix, seed: int, *, extra_mixed: int = 0,
                 distinct_objects: bool = True, transform: Callable | None = None,
                 return_record: bool = False):
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if int(extra_mixed) != extra_mixed or extra_mixed < 0:
            raise ValueError(f"extra_mixed must be a non-negative integer, got {extra_mixed!r}")
        if len(base) == 0 and extra_mixed:
            raise ValueError("extra_mixed samples need a non-empty base data set to paste onto")
        self.base = base
        self.mix = mix
        self.seed = int(seed)
        self.extra_mixed = int(extra_mixed)
        self.distinct_objects = bool(distinct_objects)
        self.transform = transform
        self.return_record = bool(return_record)
        self.epoch = 0
        self._perm_cache: tuple[int, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != epoch or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.base) + self.extra_mixed

    def sample_seed(self, index: int) -> np.random.SeedSequence:
        """The seed sequence of sample ``index`` in the current epoch."""
        return np.random.SeedSequence([_SAMPLE_TAG, self.seed, self.epoch, int(index)])

    def _object_permutation(self) -> np.ndarray:
        if self._perm_cache is None or self._perm_cache[0] != self.epoch:
            rng = np.random.default_rng(np.random.SeedSequence([_EPOCH_TAG, self.seed, self.epoch]))
            self._perm_cache = (self.epoch, rng.permutation(len(self.mix.source)))
        return self._perm_cache[1]

    def __getitem__(self, index: int) -> dict:
        n_base = len(self.base)
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a mixed data set of {len(self)} samples")
        mix_seq, transform_seq = self.sample_seed(index).spawn(2)
        rng = np.random.default_rng(mix_seq)
        if index < n_base:
            item = dict(self.base[index])
            result = self.mix.apply(item["image"], item["label"], rng)
        else:
            j = index - n_base
            base_index = int(rng.integers(n_base))
            item = dict(self.base[base_index])
            objects = None
            if self.distinct_objects:
                perm = self._object_permutation()
                objects = [int(perm[j % perm.size])]
            result = self.mix.apply(item["image"], item["label"], rng, force=True, object_indices=objects)
            item["name"] = f"{item['name']}+{result.pastes[0].name}"
        item["image"], item["label"] = result.image, result.label
        item["mixed"] = result.mixed
        if self.return_record:
            item["anomalymix"] = result.pastes
        if self.transform is not None:
            item = self.transform(item, np.random.default_rng(transform_seq))
        return item
