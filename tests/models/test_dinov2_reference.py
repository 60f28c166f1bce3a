"""brainembed's DINOv2 tokens against Meta's own model code (PyPI ``dinov2`` 0.0.1.dev2, installed --no-deps).

Meta's ``DinoVisionTransformer`` with random weights (layer scale included, as in
the published models) is saved in the torch-hub layout, loaded through
``create_vit`` + ``ViTBackbone``, and the CLS + patch tokens of several blocks are
compared at the paper's 224 px (position embedding resampled from 37 x 37 to
16 x 16) and at the native 518 px.
"""

from functools import partial

import numpy as np
import pytest
import torch

from brainembed.models import create_vit
from brainembed.models.backbone import ViTBackbone

reference = pytest.importorskip("dinov2.models.vision_transformer", reason="Meta's dinov2 package is not installed")

SIZES = {"vit_small_patch14_dinov2": dict(embed_dim=384, num_heads=6),
         "vit_base_patch14_dinov2": dict(embed_dim=768, num_heads=12)}
DEPTH = 3


def _meta_model(size: dict, seed: int):
    from dinov2.layers import MemEffAttention, NestedTensorBlock

    torch.manual_seed(seed)
    model = reference.DinoVisionTransformer(img_size=518, patch_size=14, depth=DEPTH, mlp_ratio=4, init_values=1.0,
                                            block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention),
                                            block_chunks=0, **size)
    with torch.no_grad():  # trained-looking weights: no zero biases, layer scales far from identity
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.2, 1.0)
            elif name.endswith("bias") or name in ("cls_token", "pos_embed"):
                p.normal_(0.0, 0.5)
    return model.eval()


def _meta_tokens(model, images):
    with torch.no_grad():
        out = model.get_intermediate_layers(images, n=list(range(DEPTH)), return_class_token=True, norm=False)
    return torch.stack([torch.cat([cls[:, None], patches], 1) for patches, cls in out], 1)  # (B, L, P, D)


def _relative_error(ours, theirs) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


@pytest.mark.parametrize("name", sorted(SIZES))
def test_tokens_equal_metas_at_224_and_518(name, tmp_path):
    model = _meta_model(SIZES[name], seed=len(name))
    hub_file = tmp_path / "dinov2_hub_layout.pth"
    torch.save(model.state_dict(), hub_file)
    images = torch.randn(2, 3, 518, 518, generator=torch.Generator().manual_seed(0))
    for size in (224, 518):
        x = images if size == 518 else torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear")
        ours = ViTBackbone(create_vit(name, size, pretrained=str(hub_file), depth=DEPTH),
                           layers=tuple(range(1, DEPTH + 1)), adapter="none")
        with torch.no_grad():
            tokens = ours(x)
        expected = _meta_tokens(model, x)
        assert tokens.shape == expected.shape == (2, DEPTH, 1 + (size // 14) ** 2, SIZES[name]["embed_dim"])
        assert _relative_error(tokens, expected) <= 1e-5, (name, size)
    # timm-layout weights at 518 px (as timm's DINOv2 files are) resample the same way
    timm_file = tmp_path / "timm_layout.pth"
    torch.save(create_vit(name, 518, pretrained=str(hub_file), depth=DEPTH).state_dict(), timm_file)
    small = torch.nn.functional.interpolate(images, size=(224, 224), mode="bilinear")
    again = ViTBackbone(create_vit(name, 224, pretrained=str(timm_file), depth=DEPTH), layers=(1, DEPTH),
                        adapter="none")
    with torch.no_grad():
        tokens = again(small)
    assert _relative_error(tokens, _meta_tokens(model, small)[:, [0, DEPTH - 1]]) <= 1e-5


def test_timms_own_resampling_differs_at_224(tmp_path):
    """The check above can fail: timm's exact-size bicubic resize is not the reference's arithmetic."""
    import timm
    from timm.layers import resample_abs_pos_embed

    model = _meta_model(SIZES["vit_small_patch14_dinov2"], seed=1)
    pos = model.pos_embed.detach()
    timm_pos = resample_abs_pos_embed(pos, new_size=(16, 16), num_prefix_tokens=1)
    reference_pos = model.interpolate_pos_encoding(torch.zeros(1, 1 + 256, 384), 224, 224).detach()
    assert timm.__version__ and not np.allclose(timm_pos.numpy(), reference_pos.numpy(), rtol=1e-5, atol=1e-5)
