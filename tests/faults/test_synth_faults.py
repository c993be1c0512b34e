"""Faults of the embedded-benchmark cache: a folder with your files, a damaged cached PNG."""

from __future__ import annotations

import hashlib
import json

import pytest

from faults.fault_cases import expect, registry, snapshot

RUNNERS, fault = registry()
SMALL = ["--size", "64x128", "--train", "3", "--val", "1", "--oe", "2", "--count", "1"]


def _bench(box, cli):
    bench = box.out / "bench"
    assert cli("synth", "--out", bench, *SMALL).code == 0
    return bench


@fault("synth-foreign-files")
def _(box, cli):
    bench = _bench(box, cli)
    (bench / "inlier" / "my_notes.txt").write_text("mine")
    (bench / "inlier" / "train" / "images" / "my_photo.png").write_bytes(b"not the cache's")
    before = snapshot(bench)
    box.freeze()
    outcome = cli("synth", "--out", bench, "--seed", "1", *SMALL)
    assert snapshot(bench) == before, "a refused run changed the folder"
    assert "my_notes.txt" in outcome.err or "my_photo.png" in outcome.err
    return outcome


@fault("train-other-version")
def _(box, cli):
    bench = box.out / "bench-v1"
    assert cli("synth", "--out", bench, "--benchmark-version", "1", *SMALL).code == 0
    before = snapshot(bench)
    box.freeze()
    outcome = cli("train", "--set", f"data.root={bench}", "--set", f"out={box.out / 'run'}")
    assert snapshot(bench) == before, "a refused run changed the benchmark"
    assert not (box.out / "run").exists()
    return outcome


@fault("synth-truncated-png")
def _(box, cli):
    bench = _bench(box, cli)
    png = bench / "inlier" / "train" / "images" / "00001.png"
    original = png.read_bytes()
    png.write_bytes(original[:100])
    box.freeze()
    outcome = cli("synth", "--out", bench, *SMALL)
    assert png.read_bytes() == original and "repaired 1 file(s)" in outcome.out
    return outcome


@fault("synth-verify")
def _(box, cli):
    bench = _bench(box, cli)
    png = bench / "inlier" / "train" / "images" / "00002.png"
    original = png.read_bytes()
    png.write_bytes(original[:200] + bytes([original[200] ^ 0xFF]) + original[201:])
    box.freeze()
    quick = cli("synth", "--out", bench, *SMALL)
    assert quick.code == 0 and "damaged" not in quick.out, "the size check alone cannot see a same-size change"
    outcome = cli("synth", "--out", bench, "--verify", *SMALL)
    assert png.read_bytes() == original and "SHA-256 of every file verified" in outcome.out
    return outcome


@pytest.mark.parametrize("case_id", sorted(RUNNERS))
def test_fault(case_id, box, run_cli):
    outcome = RUNNERS[case_id](box, run_cli)
    expect(case_id, outcome)
    box.assert_untouched()


def test_another_seed_deletes_only_the_caches_files_and_keeps_yours_at_the_root(box, run_cli):
    bench = _bench(box, run_cli)
    (bench / "README.txt").write_text("my notes next to the generated folders")
    first = json.loads((bench / "manifest.json").read_text())
    assert run_cli("synth", "--out", bench, "--seed", "1", *SMALL).code == 0
    second = json.loads((bench / "manifest.json").read_text())
    assert second["seed"] == 1 and second["content_sha256"] != first["content_sha256"]
    assert (bench / "README.txt").read_text() == "my notes next to the generated folders"
    for rel, sha in second["files"].items():
        assert hashlib.sha256((bench / rel).read_bytes()).hexdigest() == sha


def test_smaller_counts_delete_only_recorded_files(box, run_cli):
    bench = _bench(box, run_cli)
    assert run_cli("synth", "--out", bench, *SMALL[:2], "--train", "1", "--val", "1", "--oe", "2", "--count", "1").code == 0
    assert sorted(p.name for p in (bench / "inlier" / "train" / "images").iterdir()) == ["00000.png"]


def test_an_older_manifest_without_sizes_is_hashed_once_and_upgraded(box, run_cli):
    bench = _bench(box, run_cli)
    manifest = json.loads((bench / "manifest.json").read_text())
    del manifest["sizes"]
    (bench / "manifest.json").write_text(json.dumps(manifest))
    (bench / ".synth-files.jsonl").unlink()  # an older pebal kept no ledger
    outcome = run_cli("synth", "--out", bench, *SMALL)
    assert outcome.code == 0 and "0 of 8 items cached" not in outcome.out
    upgraded = json.loads((bench / "manifest.json").read_text())
    assert upgraded["files"] == manifest["files"] and set(upgraded["sizes"]) == set(manifest["files"])


def test_a_path_that_is_a_file_is_refused(box, run_cli):
    target = box.work / "bench"
    target.write_text("a file")
    outcome = run_cli("synth", "--out", target, *SMALL)
    assert outcome.code == 2 and "is a file" in outcome.err and target.read_text() == "a file"
