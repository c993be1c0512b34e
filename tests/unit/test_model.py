import pytest
import torch
from torch import nn

from pebal.losses import PEBALLoss
from pebal.model import PEBALModel, extend_classifier, find_classifier_conv

Y = 3


class Tiny(nn.Module):
    def __init__(self, classes=Y):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.5))
        self.final = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, classes, 1))

    def forward(self, x):
        return self.final(self.backbone(x))


def _net(seed=0):
    torch.manual_seed(seed)
    return Tiny()


def test_find_classifier_conv_returns_last_matching_conv():
    net = _net()
    parent, name, conv = find_classifier_conv(net.final, Y)
    assert parent is net.final and name == "3" and conv is net.final[3]
    with pytest.raises(ValueError, match="no Conv2d with 7 output channels"):
        find_classifier_conv(net.final, 7)


def test_extending_the_classifier_keeps_inlier_logits_and_seeds_the_new_channel():
    net = _net().eval()
    x = torch.randn(2, 3, 6, 6)
    before = net(x)
    model = PEBALModel(net, Y, generator=torch.Generator().manual_seed(0)).eval()
    after = model(x)
    assert after.shape == (2, Y + 1, 6, 6)
    torch.testing.assert_close(after[:, :Y], before)
    assert torch.equal(model.segment(after), before.argmax(1))
    conv = nn.Conv2d(8, Y, 1)
    a = extend_classifier(conv, torch.Generator().manual_seed(1))
    b = extend_classifier(conv, torch.Generator().manual_seed(1))
    assert torch.equal(a.weight, b.weight) and a.bias[-1].item() == 0.0
    # Kaiming normal, fan-in 8: std sqrt(2/8) = 0.5 (loose check on 8 draws)
    assert 0.1 < a.weight[-1].std().item() < 1.2


def test_gradients_reach_only_the_final_block():
    net = _net()
    model = PEBALModel(net, Y).train()
    logits = model(torch.randn(2, 3, 8, 8))
    target = torch.randint(0, Y, (2, 8, 8))
    target[0, :2] = 254
    loss, _ = PEBALLoss(Y)(logits, target)
    loss.backward()
    for p in net.backbone.parameters():
        assert p.grad is None and not p.requires_grad
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.final.parameters())
    trainable, total = model.parameter_counts()
    assert trainable == sum(p.numel() for p in net.final.parameters())
    assert total == sum(p.numel() for p in net.parameters())


def test_frozen_part_stays_in_eval_mode_unless_asked():
    net = _net()
    model = PEBALModel(net, Y).train()
    assert not net.backbone[1].training and net.final[1].training
    mean_before = net.backbone[1].running_mean.clone()
    model(torch.randn(2, 3, 8, 8) + 3)
    assert torch.equal(net.backbone[1].running_mean, mean_before)

    drifting = PEBALModel(_net(), Y, frozen_train_mode=True).train()
    bn = drifting.network.backbone[1]
    assert bn.training
    before = bn.running_mean.clone()
    drifting(torch.randn(2, 3, 8, 8) + 3)
    assert not torch.equal(bn.running_mean, before)


def test_model_without_final_attribute_needs_explicit_block():
    net = nn.Sequential(nn.Conv2d(3, Y, 1))
    with pytest.raises(ValueError, match="final="):
        PEBALModel(net, Y)
    model = PEBALModel(net, Y, final=net)
    assert model(torch.randn(1, 3, 4, 4)).shape == (1, Y + 1, 4, 4)


def test_segment_ignores_the_abstention_channel():
    model = PEBALModel(_net(), Y)
    logits = torch.zeros(1, Y + 1, 1, 1)
    logits[0, 1] = 1.0
    logits[0, Y] = 10.0
    assert model.segment(logits).item() == 1


def test_a_bare_classifier_conv_can_be_the_final_block():
    from torch import nn

    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 1))
    original = net[2].weight.detach().clone()
    model = PEBALModel(net, num_classes=5, final=net[2], generator=torch.Generator().manual_seed(0))
    assert net[2].out_channels == 6 and model.final is net[2]
    assert torch.equal(net[2].weight[:5], original)  # trained channels copied unchanged
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["network.2.weight", "network.2.bias"]
    PEBALModel(net, num_classes=5, final=net[2], add_abstention=False)  # already Y + 1: accepted
    with pytest.raises(ValueError, match="expected 5"):
        PEBALModel(net, num_classes=4, final=net[2], add_abstention=False)
