"""The networks of the five methods, the baseline and the U-Nets: shapes, gradients, heads, pooling,
pretrained loading, the paper's seven-backbone M3, and the CPU training modes (bf16 + channels_last)."""

from __future__ import annotations

import time

import pytest
import timm
import torch
import torchvision
from timm.layers import NonLocalAttn

from inference.preprocessing import InputSpec
from inference.training.checkpoint import save_checkpoint
from inference.training.gradcam import autograd_gradcam
from inference.training.provenance import describe_pretrained
from inference.training.networks import (
    METHOD_DEFAULTS,
    PAPER_BACKBONES,
    MajorityVote,
    build_network,
    is_segmentation,
    network_config,
)
from inference.training.networks.backbones import PretrainedWeightsError
from inference.training.networks.m4_mask_weighted import LungMaskWeightedPool
from inference.training.trained_like import trained_like

SIZE = 64


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _inputs(method: str, batch: int = 2):
    torch.manual_seed(1)
    if method == "unet3d":
        return (torch.randn(batch, 1, 32, 32, 32),)
    image = torch.randn(batch, 3, SIZE, SIZE)
    if method == "M4":
        mask = torch.zeros(batch, 1, SIZE, SIZE)
        mask[:, :, 8:56, 4:28] = 1.0  # one lung, off-centre: the pooling weights differ from GAP
        return image, mask
    return (image,)


@pytest.mark.parametrize("method", list(METHOD_DEFAULTS))
def test_every_network_runs_forward_and_backward_with_no_unused_parameter(method):
    model = build_network(method)
    inputs = _inputs(method)
    out = model(*inputs)
    if is_segmentation(method):
        assert out.shape == (2, 3, *inputs[0].shape[2:])
    else:
        assert out.shape == (2, METHOD_DEFAULTS[method]["num_classes"])
    out.float().square().mean().backward()
    # DistributedDataParallel fails on parameters that get no gradient, so every one must
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unused
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("method", ["M1", "M4"])
def test_bf16_autocast_and_channels_last_train_the_special_modules(method):
    """The training loop runs bf16 autocast + channels_last on CPU (measured: about 3x faster than fp32 on this CPU)."""
    model = build_network(method, backbone="resnet18").to(memory_format=torch.channels_last)
    inputs = [x.to(memory_format=torch.channels_last) for x in _inputs(method)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(*inputs)
    assert logits.dtype == torch.bfloat16
    torch.nn.functional.cross_entropy(logits.float(), torch.tensor([0, 1])).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("method", ["baseline", "M2"])
def test_head_jacobian_is_the_autograd_jacobian(method):
    model = trained_like(build_network(method, backbone="resnet18"), *_inputs(method))
    pooled = torch.randn(3, 512)
    expected = torch.stack(
        [torch.autograd.functional.jacobian(model.head, pooled[i : i + 1]).squeeze(2).squeeze(0) for i in range(3)]
    )
    closed_form = model.head_jacobian(pooled)
    assert closed_form.shape == (3, 3, 512)
    torch.testing.assert_close(closed_form, expected, rtol=1e-5, atol=1e-6)


def test_m2_head_has_the_described_layers():
    model = build_network("M2", num_classes=4)
    head = model.classifier
    assert (head.fc1.in_features, head.fc1.out_features, head.dropout.p) == (2048, 1024, 0.5)
    assert sum(p.numel() for p in head.fc2.parameters()) == 1024 * 4 + 4  # the paper's 4,100


def test_m1_puts_attention_in_the_last_block_of_conv3_to_conv5_and_pools_four_pyramid_levels():
    model = build_network("M1")
    backbone = model.features.backbone
    for stage in ("layer2", "layer3", "layer4"):
        blocks = getattr(backbone, stage)
        assert isinstance(blocks[-1].se, NonLocalAttn)
        assert all(block.se is None for block in blocks[:-1])
    assert backbone.layer1[-1].se is None
    x = torch.randn(1, 512, 8, 8)
    assert torch.equal(backbone.layer2[-1].se.eval()(x), x)  # zero-initialised: starts as the identity
    maps = model.eval().feature_maps(torch.randn(1, 3, SIZE, SIZE))
    assert [tuple(m.shape[1:]) for m in maps] == [(256, 16, 16), (256, 8, 8), (256, 4, 4), (256, 2, 2)]


def test_lung_mask_weighted_pooling_follows_the_mask():
    pool = LungMaskWeightedPool()
    feature_map = torch.zeros(2, 1, 4, 4)
    feature_map[:, :, :, :2] = 1.0  # evidence only in the image's left half
    left, right = torch.zeros(2, 1, 64, 64), torch.zeros(2, 1, 64, 64)
    left[..., :32] = 1.0
    right[..., 32:] = 1.0
    weights = pool.weights(left, (4, 4))
    torch.testing.assert_close(weights.sum(dim=(2, 3)), torch.ones(2, 1))
    assert pool([feature_map], left).min() > 0.8 > 0.2 > pool([feature_map], right).max()
    # no mask, or an empty one (no lung found), is plain GAP instead of a division by zero
    torch.testing.assert_close(pool([feature_map], None), feature_map.mean(dim=(2, 3)))
    torch.testing.assert_close(pool([feature_map], torch.zeros(2, 1, 64, 64)), feature_map.mean(dim=(2, 3)))


def test_m4_gradcam_weights_are_the_same_with_and_without_a_mask_only_logits_change():
    """Mask weights sum to 1, so alpha = J / (h w) either way (ARCHITECTURE.md section 4)."""
    model = build_network("M4", backbone="resnet18")
    image, mask = _inputs("M4")
    model = trained_like(model, image, mask)
    with torch.no_grad():
        assert not torch.allclose(model(image, mask), model(image))
    torch.testing.assert_close(autograd_gradcam(model, image, mask), autograd_gradcam(model, image, None))


def test_majority_vote_counts_votes_and_breaks_ties_by_mean_probability():
    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = torch.tensor([logits])

        def forward(self, image, lung_mask=None):
            return self.logits.expand(len(image), -1)

    image = torch.zeros(1, 3, 8, 8)
    confident_zero, mild_one = Fixed([9.0, 0.0, 0.0]), Fixed([0.0, 0.3, 0.0])
    vote = MajorityVote([confident_zero, mild_one, mild_one])
    probabilities = vote(image).softmax(dim=1)
    assert probabilities.argmax().item() == 1  # two votes beat one confident vote
    torch.testing.assert_close(probabilities.sum(), torch.tensor(1.0))
    tie = MajorityVote([confident_zero, mild_one])
    assert tie(image).argmax().item() == 0  # one vote each: the higher mean probability wins


def test_unet3d_follows_the_m4_specification():
    model = build_network("unet3d")
    assert 0.3e6 < sum(p.numel() for p in model.parameters()) < 0.4e6  # base 8, 4 levels: 0.35 M
    assert sum(p.numel() for p in build_network("unet3d", base_channels=16).parameters()) > 1.3e6
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.zeros(1, 1, 36, 32, 32))


def test_network_config_rejects_unknown_methods_and_options():
    assert network_config("M3")["backbones"] == ("resnet50", "densenet121")
    with pytest.raises(ValueError, match="unknown method"):
        network_config("M9")
    with pytest.raises(ValueError, match="no option"):
        network_config("M2", backbones=("resnet50",))


@pytest.mark.slow
def test_the_papers_seven_backbone_m3_builds_and_runs():
    started = time.perf_counter()
    model = build_network("M3", backbones=PAPER_BACKBONES).eval()
    assert len(model.features.backbones) == 7
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 96, 96))
    assert logits.shape == (1, 2)
    assert time.perf_counter() - started < 60


# ---- local ImageNet checkpoints ----------------------------------------------------------------------


def test_pretrained_loads_a_timm_checkpoint_with_its_imagenet_classifier(tmp_path):
    source = timm.create_model("resnet50")  # 1000-class fc: the classifier keys do not fit our head
    path = tmp_path / "resnet50_imagenet.pth"
    torch.save(source.state_dict(), path)
    model = build_network("baseline", pretrained=str(path))
    loaded = model.features.backbones[0]
    torch.testing.assert_close(loaded.layer3[2].conv2.weight, source.layer3[2].conv2.weight)
    torch.testing.assert_close(loaded.bn1.running_var, source.bn1.running_var)


def test_pretrained_loads_a_wrapped_torchvision_checkpoint_from_ddp(tmp_path):
    source = torchvision.models.resnet18()
    path = tmp_path / "resnet18_tv.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    model = build_network("M4", backbone="resnet18", pretrained=path)
    torch.testing.assert_close(model.features.backbones[0].layer4[1].conv1.weight, source.layer4[1].conv1.weight)


def test_pretrained_for_a_multi_backbone_network_is_given_per_backbone(tmp_path):
    source = torchvision.models.densenet121()  # torchvision names: timm's own converter renames them
    path = tmp_path / "densenet121_tv.pth"
    torch.save(source.state_dict(), path)
    model = build_network("M3", backbones=("resnet18", "densenet121"), pretrained={"densenet121": path})
    torch.testing.assert_close(model.features.backbones[1].features_conv0.weight, source.features.conv0.weight)
    with pytest.raises(PretrainedWeightsError, match="give pretrained as"):
        build_network("M3", pretrained=str(path))


def test_pretrained_takes_the_backbone_of_a_lunglens_checkpoint(tmp_path):
    """An X-ray baseline's ResNet starts a CT M4 and M3 (whose other backbone stays random)."""
    xray = build_network("baseline", backbone="resnet18", num_classes=3)
    path = save_checkpoint(
        tmp_path / "xr-baseline.pt", model=xray, method="baseline", model_config=network_config("baseline", backbone="resnet18"),
        classes=("COVID", "Normal", "Viral_Pneumonia"), modality="XR", input_spec=InputSpec(size=64), epoch=3,
    )
    source = xray.features.backbones[0]
    m4 = build_network("M4", backbone="resnet18", pretrained=path)
    torch.testing.assert_close(m4.features.backbones[0].layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    torch.testing.assert_close(m4.features.backbones[0].bn1.running_mean, source.bn1.running_mean)
    m3 = build_network("M3", backbones=("resnet18", "densenet121"), pretrained={"resnet18": path})
    torch.testing.assert_close(m3.features.backbones[0].conv1.weight, source.conv1.weight)
    m1 = build_network("M1", backbone="resnet18", pretrained=path)
    torch.testing.assert_close(m1.features.backbone.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    with pytest.raises(PretrainedWeightsError, match="LungLens baseline checkpoint without a resnet50 backbone"):
        build_network("M4", backbone="resnet50", pretrained=path)
    described = describe_pretrained({"resnet18": str(path)})
    assert described.startswith("resnet18: backbone of a LungLens baseline XR model (xr-baseline.pt, epoch 3)")
    assert describe_pretrained(None) == "none (trained from scratch)"


def test_pretrained_refuses_a_checkpoint_of_another_architecture_or_a_broken_file(tmp_path):
    path = tmp_path / "densenet121.pth"
    torch.save(timm.create_model("densenet121").state_dict(), path)
    with pytest.raises(PretrainedWeightsError, match="does not fit backbone resnet18"):
        build_network("baseline", backbone="resnet18", pretrained=path)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="not a weights-only torch checkpoint"):
        build_network("baseline", backbone="resnet18", pretrained=broken)
    with pytest.raises(PretrainedWeightsError, match="no pretrained checkpoint file"):
        build_network("baseline", backbone="resnet18", pretrained=tmp_path / "absent.pth")
