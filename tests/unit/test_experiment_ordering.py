"""The paper-ordering check of an ablation table."""

from __future__ import annotations

import pytest

from pebal.experiments import check_ordering, ordering_markdown


def _results(ap: list[float], fpr: list[float], half_width: float = 0.01) -> dict:
    def entry(v):
        return {"mean": v, "std": 0.0, "ci95": [v - half_width, v + half_width]}

    rows = [{"label": f"r{i}", "metrics": {"s": {"ap": entry(a), "fpr95": entry(f)}}}
            for i, (a, f) in enumerate(zip(ap, fpr, strict=True))]
    return {"experiment": "t", "test_sets": ["s"], "rows": rows}


def test_ordering_holds_when_every_step_improves():
    check = check_ordering(_results([0.1, 0.2, 0.3], [0.5, 0.4, 0.1]))
    assert check["holds"]
    steps = check["test_sets"]["s"]["ap"]["steps"]
    assert [s["improves"] for s in steps] == [True, True] and steps[0]["change"] == pytest.approx(0.1)
    assert all(s["resolved"] for s in steps)  # intervals of half-width 0.01 do not overlap


def test_ordering_fails_on_one_worse_step_and_names_the_best_row():
    check = check_ordering(_results([0.3, 0.2, 0.25], [0.5, 0.4, 0.3], half_width=0.2))
    assert not check["holds"]
    ap = check["test_sets"]["s"]["ap"]
    assert ap["best"] == "r0" and not ap["last_is_best"]
    assert [s["improves"] for s in ap["steps"]] == [False, True]
    assert not any(s["resolved"] for s in ap["steps"])  # wide intervals overlap
    assert check["test_sets"]["s"]["fpr95"]["every_step_improves"]
    text = ordering_markdown(check)
    assert "holds: **no**" in text and "-10.00 ✗ (within CI)" in text


def test_ordering_needs_two_rows():
    with pytest.raises(ValueError, match="two rows"):
        check_ordering(_results([0.1], [0.5]))
