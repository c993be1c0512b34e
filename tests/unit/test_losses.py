"""Value tests of every loss term, both variants, the ablations and the edge cases."""

import math

import pytest
import torch
import torch.nn.functional as F

from pebal.losses import EntropyMaximizationLoss, PEBALLoss, build_loss
from pebal.losses.energy_terms import smoothness_abs_sum, smoothness_squared_sum

Y = 2
OUT, VOID = 254, 255


def _constant_logits(values_per_image, h=4, w=4):
    """(N, Y+1, h, w) logits constant over each image: the blurred penalty then equals the penalty."""
    t = torch.tensor(values_per_image, dtype=torch.float64)
    return t.view(len(values_per_image), -1, 1, 1).expand(-1, -1, h, w).contiguous().float()


def _pixel(values):
    """softmax p, energy E and penalty a of one pixel's logits, in float64 by hand."""
    exps = [math.exp(v) for v in values]
    p = [e / sum(exps) for e in exps]
    energy = -math.log(sum(exps[:-1]))
    return p, energy, energy**2


# ---------------------------------------------------------------- hand-computed values


def test_reference_clean_batch_hand_values():
    values = [1.0, 0.0, 0.5]
    logits = _constant_logits([values])
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, 0, :] = VOID  # void pixels are excluded from every mean
    total, parts = PEBALLoss(Y, "reference")(logits, target)
    p, e, a = _pixel(values)
    pal_in = -math.log(p[0] + p[2] / a)
    hinge = max(0.0, e + 12) ** 2
    assert parts["pal_in"].item() == pytest.approx(pal_in, rel=1e-5)
    assert parts["pal_out"].item() == 0.0
    assert parts["hinge_in"].item() == pytest.approx(0.1 * hinge, rel=1e-5)
    assert parts["hinge_out"].item() == 0.0
    assert parts["sparsity"].item() == 0.0
    assert parts["smoothness"].item() == pytest.approx(0.0, abs=1e-9)
    assert total.item() == pytest.approx(pal_in + 0.1 * hinge, rel=1e-5)


def test_reference_mixed_batch_hand_values():
    clean, mixed = [1.0, 0.0, 0.5], [0.2, 0.4, 1.5]
    logits = _constant_logits([clean, mixed])
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[1] = 1
    target[1, 1:3, 1:3] = OUT  # 4 outlier pixels in image 1
    target[1, 3, 3] = VOID
    total, parts = PEBALLoss(Y, "reference")(logits, target)
    pc, ec, ac = _pixel(clean)
    pm, em, am = _pixel(mixed)
    # pal_in: the inlier-pixel means of the clean image and of the image with outliers
    pal_in = -math.log(pc[0] + pc[2] / ac) - math.log(pm[1] + pm[2] / am)
    out_mean = sum(math.log(max(pm[c] + pm[2] / am, 1e-7)) for c in range(Y)) / Y
    pal_out = -0.1 * out_mean  # pal_out: the outlier pixels only
    # energy: inlier pixels of both images (16 + 11), outlier pixels of image 1 (4)
    hinge_in = (16 * max(0, ec + 12) ** 2 + 11 * max(0, em + 12) ** 2) / 27
    hinge_out = max(0, -6 - em) ** 2
    sparsity = math.sqrt(4 * em**2)
    # smoothness: only the column of differences between... none: each image is constant
    assert parts["pal_in"].item() == pytest.approx(pal_in, rel=1e-5)
    assert parts["pal_out"].item() == pytest.approx(pal_out, rel=1e-5)
    assert parts["hinge_in"].item() == pytest.approx(0.1 * 0.5 * hinge_in, rel=1e-5)
    assert parts["hinge_out"].item() == pytest.approx(0.1 * 0.5 * hinge_out, rel=1e-5)
    assert parts["sparsity"].item() == pytest.approx(0.1 * 5e-4 * sparsity, rel=1e-5)
    expected = pal_in + pal_out + 0.1 * (0.5 * (hinge_in + hinge_out) + 5e-4 * sparsity)
    assert total.item() == pytest.approx(expected, rel=1e-5)


def test_reference_outlier_term_is_clamped_at_1e_minus_7():
    values = [30.0, -30.0, -30.0]  # p[1] and p[2] ~ e^-60: below the clamp
    logits = _constant_logits([values])
    target = torch.full((1, 4, 4), OUT, dtype=torch.long)
    target[0, 0, 0] = 0
    _, parts = PEBALLoss(Y, "reference")(logits, target)
    p, _, a = _pixel(values)
    out_mean = (math.log(p[0] + p[2] / a) + math.log(1e-7)) / 2
    assert parts["pal_out"].item() == pytest.approx(-0.1 * out_mean, rel=1e-5)
    assert parts["pal_in"].item() == pytest.approx(-math.log(p[0] + p[2] / a), rel=1e-5)


def test_paper_variant_hand_values():
    values = [0.2, 0.4, 1.5]
    logits = _constant_logits([values])
    target = torch.ones(1, 4, 4, dtype=torch.long)
    target[0, 1:3, 1:3] = OUT
    target[0, 0, 0] = VOID  # 15 valid pixels: 11 inlier, 4 outlier
    total, parts = PEBALLoss(Y, "paper")(logits, target)
    p, e, a = _pixel(values)
    n = 15
    pal_in = -11 * math.log(p[1] + p[2] / a) / n
    pal_out = -4 * sum(math.log(p[c] + p[2] / a) for c in range(Y + 1)) / n  # all Y+1 classes
    hinge_in = 0.1 * 11 * max(0, e + 12) ** 2 / n
    hinge_out = 0.1 * 4 * max(0, -6 - e) ** 2 / n
    sparsity = 3e-6 * 15 * abs(e) / n
    assert parts["pal_in"].item() == pytest.approx(pal_in, rel=1e-5)
    assert parts["pal_out"].item() == pytest.approx(pal_out, rel=1e-5)
    assert parts["hinge_in"].item() == pytest.approx(hinge_in, rel=1e-5)
    assert parts["hinge_out"].item() == pytest.approx(hinge_out, rel=1e-5)
    assert parts["sparsity"].item() == pytest.approx(sparsity, rel=1e-5)
    assert parts["smoothness"].item() == pytest.approx(0.0, abs=1e-9)
    assert total.item() == pytest.approx(pal_in + pal_out + hinge_in + hinge_out + sparsity, rel=1e-5)


def test_paper_variant_is_resolution_independent():
    values = [0.2, 0.4, 1.5]
    small = PEBALLoss(Y, "paper")(_constant_logits([values], 4, 4), torch.ones(1, 4, 4, dtype=torch.long))[0]
    large = PEBALLoss(Y, "paper")(_constant_logits([values], 16, 32), torch.ones(1, 16, 32, dtype=torch.long))[0]
    assert small.item() == pytest.approx(large.item(), rel=1e-5)


def test_smoothness_terms_hand_values():
    energy = torch.tensor([[[1.0, 3.0, 2.0], [0.0, 1.0, 5.0]]])
    # vertical diffs: -1, -2, 3 ; horizontal: 2, -1, 1, 4
    assert smoothness_squared_sum(energy).item() == pytest.approx((1 + 4 + 9 + 4 + 1 + 1 + 16) / 2)
    valid = torch.ones_like(energy, dtype=torch.bool)
    assert smoothness_abs_sum(energy, valid).item() == pytest.approx(1 + 2 + 3 + 2 + 1 + 1 + 4)
    valid[0, 1, 2] = False  # drops the pairs (0,2)-(1,2) and (1,1)-(1,2)
    assert smoothness_abs_sum(energy, valid).item() == pytest.approx(1 + 2 + 2 + 1 + 1)


def test_pal_fixed_penalty_is_deep_gambler():
    values = [1.0, 0.0, 0.5]
    logits = _constant_logits([values])
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    total, parts = build_loss("pal_fixed", Y, "reference")(logits, target)
    p, _, _ = _pixel(values)
    assert set(parts) == {"pal_in", "pal_out", "total"}
    assert total.item() == pytest.approx(-math.log(p[0] + p[2] / 4.5), rel=1e-6)


def test_ebm_only_uses_cross_entropy_and_hinges():
    values = [1.0, 0.0, 0.5]
    logits = _constant_logits([values])
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    total, parts = build_loss("ebm", Y, "reference")(logits, target)
    ce = -math.log(math.exp(1) / (math.exp(1) + 1))
    _, e, _ = _pixel(values)
    assert set(parts) == {"cross_entropy", "hinge_in", "hinge_out", "total"}
    assert total.item() == pytest.approx(ce + 0.1 * (e + 12) ** 2, rel=1e-5)


def test_entropy_maximisation_baseline():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, Y + 1, 5, 6, generator=g)
    target = torch.randint(0, Y, (2, 5, 6), generator=g)
    target[0, :2] = OUT
    target[1, 4] = VOID
    total, parts = EntropyMaximizationLoss(Y, weight=0.3)(logits, target)
    ce_target = target.clone()
    ce_target[target == OUT] = Y
    ce = F.cross_entropy(logits, ce_target, ignore_index=VOID)
    p = F.softmax(logits[:, :Y], 1).permute(0, 2, 3, 1)[target == OUT]
    ent = (-(p * p.log()).sum(1) / math.log(Y)).mean()
    assert total.item() == pytest.approx((ce - 0.3 * ent).item(), rel=1e-5)


def test_unknown_method_and_variant():
    with pytest.raises(ValueError, match="pal_fixed"):
        build_loss("nope")
    with pytest.raises(ValueError, match="paper"):
        PEBALLoss(Y, "nope")


# ------------------------------------------------- equality with a literal implementation


def _literal_blur(x):
    """7x7 sigma-1 Gaussian with reflect borders, written as a sum of shifted maps."""
    k = [math.exp(-0.5 * i * i) for i in range(-3, 4)]
    k = [v / sum(k) for v in k]
    padded = F.pad(x.unsqueeze(1), (3, 3, 3, 3), mode="reflect").squeeze(1)
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    for i in range(7):
        for j in range(7):
            out = out + k[i] * k[j] * padded[:, i : i + h, j : j + w]
    return out


def _literal_reference(logits, target, y):
    """The reference formulation written directly in probability space, as its text reads."""
    prob = F.softmax(logits, 1)
    true_pred, reservation = prob[:, :y], prob[:, y]
    reward = _literal_blur(torch.logsumexp(logits[:, :y], 1).pow(2))
    reservation = reservation / reward
    has_ood = (target == OUT).flatten(1).any(1)

    def gambler(idx, wrong):
        t = target[idx].clone()
        mask, void = t == OUT, t == VOID
        tp, res = true_pred[idx], reservation[idx]
        t[void] = 0
        t[mask] = 0
        gin = (torch.gather(tp, 1, t.unsqueeze(1)).squeeze(1) + res)[(~mask) & (~void)].log()
        if not wrong:
            return -gin.mean()
        rbe = (tp + res.unsqueeze(1))[mask.unsqueeze(1).expand(-1, y, -1, -1)]
        return -(gin.mean() + (0.1 * rbe.clamp(min=1e-7).log()).mean())

    loss = gambler(~has_ood, False) + gambler(has_ood, True)
    energy = -torch.logsumexp(logits[:, :y], 1)
    e_in = energy[(target != OUT) & (target != VOID)]
    e_out = energy[target == OUT]
    e_loss = 0.5 * (F.relu(e_in + 12).pow(2).mean() + F.relu(-6 - e_out).pow(2).mean()) + 5e-4 * e_out.norm()
    dh = torch.cat([energy[:, 1:], energy[:, -1:]], 1) - energy
    dw = torch.cat([energy[:, :, 1:], energy[:, :, -1:]], 2) - energy
    e_loss = e_loss + 3e-6 * (dh.pow(2).sum() + dw.pow(2).sum()) / 2
    return loss + 0.1 * e_loss


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_value_and_gradient_equal_literal_implementation(seed):
    g = torch.Generator().manual_seed(seed)
    y = 5
    logits = (torch.randn(3, y + 1, 9, 11, generator=g) * 3).requires_grad_(True)
    target = torch.randint(0, y, (3, 9, 11), generator=g)
    target[torch.rand(3, 9, 11, generator=g) < 0.1] = VOID
    target[1, 2:5, 3:7] = OUT
    target[2, 6:, :3] = OUT
    ours, _ = PEBALLoss(y, "reference")(logits, target)
    (g_ours,) = torch.autograd.grad(ours, logits)
    theirs = _literal_reference(logits, target, y)
    (g_theirs,) = torch.autograd.grad(theirs, logits)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("variant", ["reference", "paper"])
def test_no_outlier_pixels_drops_outlier_terms(variant):
    logits = torch.randn(2, Y + 1, 6, 6)
    target = torch.randint(0, Y, (2, 6, 6))
    total, parts = PEBALLoss(Y, variant)(logits, target)
    assert parts["pal_out"].item() == 0.0 and parts["hinge_out"].item() == 0.0
    assert torch.isfinite(total)


@pytest.mark.parametrize("variant", ["reference", "paper"])
def test_all_void_batch_gives_zero_loss_and_zero_gradient(variant):
    logits = torch.randn(2, Y + 1, 6, 6, requires_grad=True)
    total, parts = PEBALLoss(Y, variant)(logits, torch.full((2, 6, 6), VOID))
    total.backward()
    assert total.item() == 0.0 and parts["total"].item() == 0.0
    assert torch.count_nonzero(logits.grad) == 0


@pytest.mark.parametrize("variant", ["reference", "paper"])
@pytest.mark.parametrize("method", ["pebal", "pal_ebm", "pal_fixed", "ebm", "em"])
def test_extreme_logits_stay_finite(variant, method):
    g = torch.Generator().manual_seed(3)
    logits = (torch.randint(0, 2, (2, Y + 1, 6, 6), generator=g).float() * 2 - 1) * 1e4
    logits.requires_grad_(True)
    target = torch.randint(0, Y, (2, 6, 6), generator=g)
    target[1, :3] = OUT
    total, _ = build_loss(method, Y, variant)(logits, target)
    total.backward()
    assert torch.isfinite(total)
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("variant", ["reference", "paper"])
def test_bfloat16_autocast_computes_in_float32(variant):
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, Y + 1, 8, 8, generator=g)
    target = torch.randint(0, Y, (2, 8, 8), generator=g)
    target[0, :2] = OUT
    expected, _ = PEBALLoss(Y, variant)(logits.bfloat16().float(), target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = PEBALLoss(Y, variant)(logits.bfloat16(), target)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_parts_sum_to_total():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, Y + 1, 8, 8, generator=g)
    target = torch.randint(0, Y, (2, 8, 8), generator=g)
    target[1, 2:4] = OUT
    for variant in ["reference", "paper"]:
        total, parts = PEBALLoss(Y, variant)(logits, target)
        terms = sum(v for k, v in parts.items() if k != "total")
        assert terms.item() == pytest.approx(total.item(), rel=1e-6)


def test_bad_targets_are_refused():
    loss = PEBALLoss(Y)
    with pytest.raises(ValueError, match=r"\[7\]"):
        loss(torch.randn(1, Y + 1, 6, 6), torch.full((1, 6, 6), 7))
    with pytest.raises(ValueError, match="does not match"):
        loss(torch.randn(1, Y + 1, 6, 6), torch.zeros(1, 5, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        loss(torch.randn(1, Y, 6, 6), torch.zeros(1, 6, 6, dtype=torch.long))


def test_reference_parts_name_the_pixels_they_hold_when_every_image_has_outliers():
    torch.manual_seed(3)
    logits = torch.randn(2, Y + 1, 6, 6)
    target = torch.randint(0, Y, (2, 6, 6))
    target[:, :2, :2] = OUT  # every image holds outlier pixels
    total, parts = PEBALLoss(Y, "reference")(logits, target)
    no_outlier_target = target.clone()
    no_outlier_target[target == OUT] = VOID
    assert parts["pal_in"].item() > 0.0  # the inlier pixels' PAL, not hidden under pal_out
    # pal_in equals the inlier-only loss on the same pixels (outliers made void)
    _, inlier_only = PEBALLoss(Y, "reference")(logits, no_outlier_target)
    assert parts["pal_in"].item() == pytest.approx(inlier_only["pal_in"].item(), rel=1e-6)
    assert total.item() == pytest.approx(sum(v.item() for k, v in parts.items() if k != "total"), rel=1e-6)
