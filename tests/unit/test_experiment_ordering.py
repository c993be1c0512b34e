"""The paper-ordering check of an ablation table, read from paired comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from pebal.experiments import check_ordering, ordering_markdown
from pebal.experiments.paired import paired_rows


def _results(ap: list[float], fpr: list[float], noise: float = 0.001) -> dict:
    """Rows with one seed each, bootstrap replicates ``value + noise * z`` with z shared by all
    rows (the same image draws) plus a little row-specific noise."""
    rng = np.random.default_rng(0)
    shared = rng.normal(size=400)

    def entry(v):
        reps = (v + noise * (shared + 0.3 * rng.normal(size=400))).tolist()
        return {"mean": v, "std": 0.0}, reps

    rows, entries = [], []
    for i, (a, f) in enumerate(zip(ap, fpr, strict=True)):
        (ma, ra), (mf, rf) = entry(a), entry(f)
        rows.append({"setting": f"s{i}", "label": f"r{i}", "metrics": {"s": {"ap": ma, "fpr95": mf}}})
        entries.append({"s": [{"ap": a, "fpr95": f, "auroc": a, "bootstrap": {"ap": ra, "fpr95": rf, "auroc": ra}}]})
    results = {"experiment": "t", "test_sets": ["s"], "rows": rows}
    results["paired"] = paired_rows(rows, entries, ["s"], ordering=True)
    return results


def test_ordering_holds_when_every_step_improves_significantly():
    check = check_ordering(_results([0.1, 0.2, 0.3], [0.5, 0.4, 0.1]))
    assert check["holds"]
    steps = check["test_sets"]["s"]["ap"]["steps"]
    assert [s["improves"] for s in steps] == [True, True] and steps[0]["change"] == pytest.approx(0.1)
    assert all(s["p_value"] < 0.05 and s["ci95"][0] > 0 for s in steps)
    assert check["test_sets"]["s"]["fpr95"]["last_beats_all"]


def test_ordering_fails_on_one_worse_step_and_names_the_best_row():
    check = check_ordering(_results([0.3, 0.2, 0.25], [0.5, 0.4, 0.3]))
    assert not check["holds"]
    ap = check["test_sets"]["s"]["ap"]
    assert ap["best"] == "r0" and not ap["last_is_best"] and not ap["last_beats_all"]
    assert [s["improves"] for s in ap["steps"]] == [False, True]
    assert check["test_sets"]["s"]["fpr95"]["every_step_improves"]
    text = ordering_markdown(check)
    assert "holds: **no**" in text and "-10.00 [" in text and "✗" in text


def test_a_step_in_the_right_direction_within_the_noise_does_not_improve():
    """AP +0.2 points per step with image noise of 3 points: the means move the right way but
    no step is significant, so the ordering does not hold."""
    check = check_ordering(_results([0.100, 0.102, 0.104], [0.5, 0.4, 0.3], noise=0.03))
    ap = check["test_sets"]["s"]["ap"]
    assert [s["direction"] for s in ap["steps"]] == [True, True]
    assert [s["improves"] for s in ap["steps"]] == [False, False]
    assert ap["last_is_best"] and not check["holds"]
    assert "right way, n.s." in ordering_markdown(check)


def test_ordering_needs_two_rows_and_the_paired_comparisons():
    with pytest.raises(ValueError, match="two rows"):
        check_ordering(_results([0.1], [0.5]))
    results = _results([0.1, 0.2], [0.5, 0.4])
    results["paired"] = []
    with pytest.raises(ValueError, match="paired comparisons"):
        check_ordering(results)
