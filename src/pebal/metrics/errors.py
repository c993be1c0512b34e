"""Exceptions raised by the metrics: bad input, and a data set on which a metric is undefined."""

from __future__ import annotations

from pebal.errors import InputError


class MetricInputError(InputError):
    """Scores or labels that cannot be evaluated (NaN/inf score, shape mismatch, label value).

    The message names the image (its index in the update and since the last reset), what was
    expected and what was found.
    """


class MissingClassError(InputError):
    """The evaluated pixels contain no anomaly (positive) or no inlier (negative) pixel.

    AUROC, AP and FPR95 are undefined on such a data set; they are never reported as 0 or NaN.
    ``num_positive`` and ``num_negative`` hold the counts that were found.
    """

    def __init__(self, num_positive: int, num_negative: int, what: str = "AUROC, AP and FPR95"):
        self.num_positive = int(num_positive)
        self.num_negative = int(num_negative)
        missing = "anomaly (label 1)" if self.num_positive == 0 else "inlier (label 0)"
        super().__init__(
            f"no {missing} pixel among the {self.num_positive + self.num_negative} evaluated pixels "
            f"({self.num_positive} anomaly, {self.num_negative} inlier): {what} are undefined. "
            "Evaluate on a data set that contains both classes."
        )


class NoComponentsError(InputError):
    """No ground-truth anomaly component (of at least the minimum size) in the evaluated data:
    the component-level metrics (sIoU, PPV, F1) are undefined."""
