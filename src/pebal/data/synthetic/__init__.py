"""The embedded benchmark: procedural driving scenes, outlier-exposure cut-outs, anomaly test sets.

Entry points: :func:`ensure_benchmark` (generate or reuse on disk), :class:`SynthCounts`,
:class:`SyntheticInlierDataset`, :func:`synthetic_test_sets`, :func:`outlier_exposure_items`,
and :func:`render_scene` for in-memory scenes. Modules: ``noise`` (deterministic noise),
``canvas`` (camera, sprites), ``street`` (sky, ground, facades), ``objects`` (inlier
objects), ``families`` (outlier-exposure and anomaly objects), ``effects`` (lighting,
weather, camera), ``scene`` (one scene, test-set definitions), ``writer`` (one job's files),
``cache`` (the whole benchmark), ``datasets`` (readers).
"""

from pebal.data.synthetic.cache import GENERATOR_VERSION, SynthCounts, ensure_benchmark
from pebal.data.synthetic.datasets import SyntheticInlierDataset, outlier_exposure_items, synthetic_test_sets
from pebal.data.synthetic.families import ANOMALY_FAMILIES, OE_FAMILIES
from pebal.data.synthetic.scene import TEST_SETS, USED_TRAIN_IDS, render_scene

__all__ = ["ANOMALY_FAMILIES", "GENERATOR_VERSION", "OE_FAMILIES", "SynthCounts", "SyntheticInlierDataset",
           "TEST_SETS", "USED_TRAIN_IDS", "ensure_benchmark", "outlier_exposure_items", "render_scene",
           "synthetic_test_sets"]
