"""Paper-table experiments (Tables 1/3/4, 5, 6, 7 and the efficiency figures).

``run_experiment(name, out, seeds, overrides)`` runs ``configs/experiments/<name>.yaml``:
each (setting, seed) in its own folder (skipped when done), then mean ± std over seeds and
bootstrap intervals over images (:mod:`.bootstrap`), a markdown table and a plot.
"""

from pebal.experiments.bootstrap import PerImageCounts, percentile_interval
from pebal.experiments.ordering import check_ordering, ordering_markdown
from pebal.experiments.runner import aggregate, run_experiment
from pebal.experiments.spec import ExperimentSpec, Setting, load_spec

__all__ = ["ExperimentSpec", "PerImageCounts", "Setting", "aggregate", "check_ordering", "load_spec",
           "ordering_markdown", "percentile_interval", "run_experiment"]
