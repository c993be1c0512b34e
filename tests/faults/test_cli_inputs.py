"""Faults in what a user hands the command line: flags, checkpoints, images, labels, data sets.

Every case runs ``pebal.cli.main`` in this process and checks the row of ``fault_cases.CASES``
(message, exit code, one error line) and that nothing outside the output folder changed.
"""

from __future__ import annotations

import numpy as np
import pytest

from faults.fault_cases import Outcome, expect, registry

RUNNERS, fault = registry()


def _ck(box, name):
    return box.inputs / "ckpt" / name


def _predict(box, cli, *args, inputs=("ok.png",)):
    box.freeze()
    return cli("predict", *(box.inputs / "images" / i for i in inputs), "--checkpoint", _ck(box, "finetuned.safetensors"),
               "--out", box.out / "pred", "--no-gallery", *args)


@fault("flag-score-range")
def _(box, cli):
    return _predict(box, cli, "--score-range", "0", "-5")


@fault("flag-colormap")
def _(box, cli):
    return _predict(box, cli, "--colormap", "nope")


@fault("flag-batch-size")
def _(box, cli):
    outcome = _predict(box, cli, "--batch-size", "0")
    again = cli("evaluate", "--checkpoint", _ck(box, "finetuned.safetensors"), "--root", box.benchmark,
                "--out", box.out / "eval", "--batch-size", "0", "--quiet")
    assert again.code == 2 and "argument --batch-size: expected an integer >= 1, found 0" in again.err
    return outcome


@fault("flag-device")
def _(box, cli):
    box.freeze()
    outcome = cli("evaluate", "--checkpoint", _ck(box, "finetuned.safetensors"), "--root", box.benchmark,
                  "--out", box.out / "eval", "--device", "bogus", "--quiet")
    for command in (["predict", box.inputs / "images" / "ok.png", "--out", box.out / "p"],
                    ["calibrate", "--dataset", box.inputs / "no_anomaly"]):
        again = cli(*command, "--checkpoint", _ck(box, "finetuned.safetensors"), "--device", "bogus")
        assert again.code == 2 and "argument --device" in again.err, again.err
    return outcome


@fault("missing-class")
def _(box, cli):
    box.freeze()
    return cli("calibrate", "--checkpoint", _ck(box, "finetuned.safetensors"), "--dataset", box.inputs / "no_anomaly")


@fault("checkpoint-metadata")
def _(box, cli):
    box.freeze()
    return cli("export", "--checkpoint", _ck(box, "nometa.safetensors"), "--out", box.out / "m.onnx", "--no-verify")


@fault("checkpoint-kwargs")
def _(box, cli):
    box.freeze()
    return cli("calibrate", "--checkpoint", _ck(box, "badkw.safetensors"), "--dataset", box.inputs / "no_anomaly")


@fault("checkpoint-pickle-named-safetensors")
def _(box, cli):
    box.freeze()
    return cli("predict", box.inputs / "images" / "ok.png", "--checkpoint", _ck(box, "pickle.safetensors"),
               "--out", box.out / "pred")


@fault("checkpoint-truncated")
def _(box, cli):
    box.freeze()
    return cli("evaluate", "--checkpoint", _ck(box, "truncated.safetensors"), "--root", box.benchmark,
               "--out", box.out / "eval", "--quiet")


@fault("checkpoint-missing-keys")
def _(box, cli):
    box.freeze()
    return cli("export", "--checkpoint", _ck(box, "missing.safetensors"), "--out", box.out / "m.onnx", "--no-verify")


@fault("checkpoint-malicious-pickle")
def _(box, cli):
    box.freeze()
    outcome = cli("predict", box.inputs / "images" / "ok.png", "--checkpoint", _ck(box, "evil.pth"),
                  "--out", box.out / "pred")
    assert not (box.inputs / "PWNED").exists(), "the pickle ran its command"
    return outcome


@fault("checkpoint-not-found")
def _(box, cli):
    box.freeze()
    return cli("evaluate", "--checkpoint", box.work / "none.safetensors", "--root", box.benchmark,
               "--out", box.out / "eval", "--quiet")


@fault("pretrain-config")
def _(box, cli):
    config = box.work / "pretrain.yaml"
    config.write_text("stepz: 7\n")
    box.freeze()
    return cli("pretrain", "--config", config, "--output", box.out / "m.safetensors", "--card", box.out / "card.md")


@fault("export-scores-dataset")
def _(box, cli):
    box.freeze()
    return cli("export-scores", "--checkpoint", _ck(box, "finetuned.safetensors"), "--dataset", "nope",
               "--root", box.work, "--out", box.out / "scores")


@fault("experiment-name")
def _(box, cli):
    box.freeze()
    return cli("experiment", "nope", "--out", box.out / "exp", "--quiet")


@fault("data-check-missing-root")
def _(box, cli):
    box.freeze()
    return cli("data", "check", "--dataset", "fishyscapes-static", "--root", box.work / "nothing")


@fault("internal-error")
def _(box, cli):
    import pebal.cli.info

    def boom(args):
        raise RuntimeError("boom")

    box.freeze()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pebal.cli.info, "run", boom)
        return cli("info")


def _images(box, cli, broken):
    outcome = _predict(box, cli, inputs=("ok.png", broken))
    assert broken in outcome.err and "predicted 1 image(s)" in outcome.out and "1 input(s) failed" in outcome.out
    assert (box.out / "pred" / "ok_heatmap.png").is_file()
    return outcome


@fault("image-corrupt")
def _(box, cli):
    return _images(box, cli, "corrupt.png")


@fault("image-truncated")
def _(box, cli):
    return _images(box, cli, "truncated.png")


@fault("image-zero-byte")
def _(box, cli):
    return _images(box, cli, "zero.png")


@fault("image-16-bit")
def _(box, cli):
    return _images(box, cli, "deep16.png")


@fault("image-rgba")
def _(box, cli):
    return _predict(box, cli, inputs=("rgba.png",))


@fault("label-wrong-size")
def _(box, cli):
    box.freeze()
    return cli("evaluate", "--checkpoint", _ck(box, "finetuned.safetensors"), "--dataset", "folder",
               "--root", box.inputs / "wrong_size", "--out", box.out / "eval", "--quiet")


@fault("label-unknown-value")
def _(box, cli):
    box.freeze()
    return cli("evaluate", "--checkpoint", _ck(box, "finetuned.safetensors"), "--dataset", "folder",
               "--root", box.inputs / "unknown_value", "--out", box.out / "eval", "--quiet")


@fault("nan-scores")
def _(box, cli):
    from pebal.metrics import AnomalyMetrics, MetricInputError, pixel_metrics

    labels = np.array([0, 1, 0, 1])
    box.freeze()
    messages = []
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(MetricInputError) as caught:
            pixel_metrics(np.array([0.1, bad, 0.3, 0.9]), labels)
        messages.append(str(caught.value))
        with pytest.raises(MetricInputError):
            AnomalyMetrics().update(np.array([0.1, 0.2, bad, 0.9]), labels)
    return Outcome(None, err="\n".join(messages))


@pytest.mark.parametrize("case_id", sorted(RUNNERS))
def test_fault(case_id, box, run_cli):
    outcome = RUNNERS[case_id](box, run_cli)
    expect(case_id, outcome)
    box.assert_untouched()
