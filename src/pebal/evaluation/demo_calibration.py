"""The demo's last step: a model a user can take away, calibrated on the inlier validation split.

``pebal demo`` ends by calibrating its fine-tuned checkpoint with the default false-alarm
budget (:data:`pebal.inference.calibrate.DEFAULT_RULE`) on the embedded benchmark's clean
validation scenes -- never on the test sets, whose figures the report shows -- and writing
``OUT/calibrated.safetensors``, the one file ``pebal predict`` needs for masks.
"""

from __future__ import annotations

import time
from pathlib import Path

from pebal.inference.calibrate import DEFAULT_RULE

#: File name of the calibrated model inside the demo's output folder.
CALIBRATED_NAME = "calibrated.safetensors"


def calibrate_demo_model(checkpoint: str | Path, root: str | Path, out: str | Path, rule: str = DEFAULT_RULE,
                         progress: bool = False) -> dict:
    """Calibrate ``checkpoint`` on ``synthetic-inlier`` split ``val`` under ``root``; write
    ``out/calibrated.safetensors`` (replacing an earlier demo's).

    Returns ``{"path" (absolute), "rule", "threshold", "flagged_fraction", "per_image_flagged",
    "num_images", "seconds"}`` for ``results.json``.
    """
    from pebal.inference.calibrate_files import calibrate_checkpoint

    start = time.perf_counter()
    target = Path(out).resolve() / CALIBRATED_NAME
    result, written = calibrate_checkpoint(checkpoint, "synthetic-inlier", root, rule, split="val", out=target,
                                           overwrite=True, device="cpu", progress=progress)
    return {
        "path": str(written),
        "rule": result.rule,
        "data": f"{result.num_images} clean images of the inlier val split ({Path(root).resolve()})",
        "threshold": result.threshold,
        "flagged_fraction": result.flagged_fraction,
        "per_image_flagged": result.per_image_flagged,
        "num_images": result.num_images,
        "seconds": time.perf_counter() - start,
    }
