"""pebal: pixel-wise energy-biased abstention learning (Tian et al., ECCV 2022).

The package is organised like the method: ``labels`` (label meanings), ``energy`` (inlier
free energy, penalty, smoothing, anomaly score), ``losses`` (PAL, EBM, regularisers,
ablations), ``scores`` (post-hoc baselines), ``model`` (the abstention wrapper),
``models`` (architectures, registry, checkpoints), ``data``, ``metrics``, ``cli``.
"""

__version__ = "0.1.0"
