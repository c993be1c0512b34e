"""Paper-table experiments (Tables 1/3/4, 5, 6, 7 and the efficiency figures).

``run_experiment(name, out, seeds, overrides)`` runs ``configs/experiments/<name>.yaml``:
each (setting, seed) in its own folder (skipped when done), then mean ± std over seeds and
bootstrap intervals over images (:mod:`.bootstrap`), paired comparisons of the rows
(:mod:`.paired`: difference, 95 % interval and p-value over a paired bootstrap of the test
images and the seeds), a markdown table and a plot. Study views per anomaly size and shift
type: :mod:`.breakdown`.
"""

from pebal.experiments.bootstrap import PerImageCounts, percentile_interval
from pebal.experiments.ordering import check_ordering, ordering_markdown
from pebal.experiments.paired import paired_difference, paired_from_counts, paired_methods
from pebal.experiments.runner import aggregate, run_experiment
from pebal.experiments.spec import ExperimentSpec, Setting, load_spec

__all__ = ["ExperimentSpec", "PerImageCounts", "Setting", "aggregate", "check_ordering", "load_spec",
           "ordering_markdown", "paired_difference", "paired_from_counts", "paired_methods", "percentile_interval",
           "run_experiment"]
