"""The stimulus-world trunk's architecture: a timm ViT with a convolutional stem."""

import pytest
import torch

from brainembed.errors import BrainembedError
from brainembed.models import create_vit
from brainembed.models.backbone import ViTBackbone
from brainembed.models.sim_trunk import SIM_TRUNK_KWARGS, SIM_TRUNK_NAME, register_sim_trunk

SMALL = {"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 8, "stem_channels": [8, 16, 16],
         "stem_strides": [2, 2, 2]}


def test_registered_with_timm_once():
    import timm

    assert register_sim_trunk() == SIM_TRUNK_NAME == register_sim_trunk()
    assert timm.is_model(SIM_TRUNK_NAME)


def test_shipped_architecture_tokens():
    vit = create_vit(SIM_TRUNK_NAME, 112, **SIM_TRUNK_KWARGS)
    assert vit.patch_embed.num_patches == 49 and vit.num_prefix_tokens == 1 and len(vit.blocks) == 6
    with torch.no_grad():
        tokens = vit.forward_features(torch.randn(2, 3, 112, 112))
    assert tokens.shape == (2, 50, 192) and torch.isfinite(tokens).all()


def test_forward_backward_through_the_encoder_backbone():
    backbone = ViTBackbone(create_vit(SIM_TRUNK_NAME, 32, **SMALL), layers=(1, 2), adapter="residual")
    images = torch.randn(3, 3, 32, 32)
    out = backbone(images)
    assert out.shape == (3, 2, 1 + 16, 32) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in backbone.adapters.parameters())
    assert all(p.grad is None for p in backbone.vit.parameters())  # frozen trunk, stem included
    trainable = ViTBackbone(create_vit(SIM_TRUNK_NAME, 32, **SMALL), layers=(2,), adapter="none", freeze=False)
    trainable(images).square().mean().backward()
    assert trainable.vit.patch_embed.backbone[0].conv.weight.grad.abs().sum() > 0  # the stem learns


def test_weights_file_round_trip(tmp_path):
    vit = create_vit(SIM_TRUNK_NAME, 32, **SMALL)
    torch.save({"state_dict": vit.state_dict()}, tmp_path / "trunk.pt")
    again = create_vit(SIM_TRUNK_NAME, 32, pretrained=str(tmp_path / "trunk.pt"), **SMALL)
    assert all(torch.equal(a, b) for a, b in zip(vit.state_dict().values(), again.state_dict().values()))
    with pytest.raises(BrainembedError, match="does not fit"):
        create_vit(SIM_TRUNK_NAME, 32, pretrained=str(tmp_path / "trunk.pt"), **{**SMALL, "embed_dim": 48})


@pytest.mark.parametrize("kwargs", [{"patch_size": 16}, {"stem_strides": [2, 4, 1]}, {"stem_channels": [8, 16]}])
def test_bad_stem_arguments(kwargs):
    with pytest.raises(BrainembedError):
        create_vit(SIM_TRUNK_NAME, 32, **{**SMALL, **kwargs})
