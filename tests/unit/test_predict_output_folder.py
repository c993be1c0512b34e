"""The journal of a prediction folder: what counts as pebal's, resume after a cut-off line,
cleanup of half-written inputs and temporaries, refusal of other settings and foreign files."""

from __future__ import annotations

import pytest

from pebal.inference.output_folder import JOURNAL, Journal, OutputFolderError, _is_temporary, open_output_folder

SETTINGS = {"threshold": -5.0, "colormap": "inferno"}


def test_temporary_names_of_known_targets():
    known = {"a_heatmap.png", "sub/b_overlay.mp4", "sub/b_scores.npy"}
    assert _is_temporary(".a_heatmap.png.k2j_9xq1.tmp", known)
    assert _is_temporary("sub/.b_overlay.mp4.abcd1234.partial.mp4", known)
    assert _is_temporary("sub/.b_scores.npy.x1y2z3w4.tmp", known)
    assert not _is_temporary(".c_heatmap.png.k2j_9xq1.tmp", known)  # not one of pebal's targets
    assert not _is_temporary(".DS_Store", known) and not _is_temporary("a_heatmap.png", known)


def test_resume_after_a_kill(tmp_path):
    journal = open_output_folder(tmp_path, SETTINGS)
    journal.start("a", ["a_heatmap.png", "a_score.npy"])
    (tmp_path / "a_heatmap.png").write_bytes(b"png")
    (tmp_path / "a_score.npy").write_bytes(b"npy")
    journal.finish({"name": "a", "files": {"heatmap": "a_heatmap.png", "score": "a_score.npy"}, "source": {"x": 1}})
    journal.start("b", ["b_heatmap.png", "b_score.npy"])
    (tmp_path / "b_heatmap.png").write_bytes(b"half")  # killed while writing b ...
    (tmp_path / ".b_score.npy.abcdefgh.tmp").write_bytes(b"tmp")
    with open(tmp_path / JOURNAL, "a") as f:
        f.write('{"event": "done", "rec')  # ... even in the middle of a journal line

    again = open_output_folder(tmp_path, SETTINGS)
    assert set(again.done) == {"a"} and again.is_current("a", {"x": 1}) and not again.is_current("a", {"x": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == [JOURNAL, "a_heatmap.png", "a_score.npy"]
    (tmp_path / "a_score.npy").unlink()
    assert not again.is_current("a", {"x": 1})  # a finished input whose file vanished is redone


def test_refusals_and_overwrite(tmp_path):
    journal = open_output_folder(tmp_path, SETTINGS)
    journal.start("a", ["a_heatmap.png"])
    (tmp_path / "a_heatmap.png").write_bytes(b"png")
    journal.finish({"name": "a", "files": {"heatmap": "a_heatmap.png"}, "source": {}})
    (tmp_path / "index.html").write_text("x")
    with pytest.raises(OutputFolderError, match="threshold: -5.0 then, -6.0 now"):
        open_output_folder(tmp_path, {**SETTINGS, "threshold": -6.0})
    assert (tmp_path / "a_heatmap.png").exists()
    fresh = open_output_folder(tmp_path, {**SETTINGS, "threshold": -6.0}, overwrite=True)
    assert fresh.done == {} and sorted(p.name for p in tmp_path.iterdir()) == [JOURNAL]
    assert Journal.read(tmp_path).settings["threshold"] == -6.0

    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(OutputFolderError, match="1 file.* did not write .*mine.txt"):
        open_output_folder(tmp_path, {**SETTINGS, "threshold": -6.0}, overwrite=True)
    assert (tmp_path / "mine.txt").read_text() == "keep"

    other = tmp_path / "other"
    other.mkdir()
    (other / "photo.jpg").write_bytes(b"x")
    (other / ".DS_Store").write_bytes(b"x")
    with pytest.raises(OutputFolderError, match="photo.jpg"):
        open_output_folder(other, SETTINGS, overwrite=True)
    hidden_only = tmp_path / "hidden"
    hidden_only.mkdir()
    (hidden_only / ".DS_Store").write_bytes(b"x")
    open_output_folder(hidden_only, SETTINGS)  # a hidden system file is no content
    assert (hidden_only / ".DS_Store").exists()
