"""Architecture of the stimulus-world trunk: a ViT with a convolutional stem, as a timm model.

The simulated crowd's stand-in for DINOv2 is a small timm
``VisionTransformer`` whose patch embedding is a stack of strided 3 x 3
convolutions (an "early convolutions" stem, Xiao et al. 2021) instead of one
linear map of each patch. On a 2-core CPU budget this stem learns shapes far
faster than a linear patchify, at the same token count. The encoder reads it
exactly as it reads DINOv2: blocks by index, CLS + patch tokens
(:class:`~brainembed.models.backbone.ViTBackbone`).

The model is registered with timm under :data:`SIM_TRUNK_NAME` the first time
:func:`register_sim_trunk` is called (``create_vit`` and the pretraining do
so), so ``timm.create_model(SIM_TRUNK_NAME, ...)`` builds it like any timm
model. ``patch_size`` is the stem's total stride in pixels (the product of
``stem_strides``): one token per ``patch_size`` x ``patch_size`` pixels.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
from torch import nn

from brainembed.errors import BrainembedError

__all__ = ["SIM_TRUNK_NAME", "SIM_TRUNK_KWARGS", "normalise_images", "register_sim_trunk", "vit_sim_convstem"]

SIM_TRUNK_NAME = "vit_sim_convstem"
"""timm name of the stimulus-world trunk's architecture."""

SIM_TRUNK_KWARGS = {"patch_size": 16, "depth": 6, "embed_dim": 192, "num_heads": 3,
                    "stem_channels": [32, 64, 128, 128, 192], "stem_strides": [2, 2, 2, 1, 2]}
"""Keyword arguments of the shipped trunk (``img_size`` apart): 112 px give 7 x 7 patch tokens + CLS."""


def vit_sim_convstem(pretrained: bool = False, *, img_size: int = 112, patch_size: int = 16,
                     stem_channels=(32, 64, 128, 128, 192), stem_strides=(2, 2, 2, 1, 2), **kwargs) -> nn.Module:
    """A timm ViT whose patch embedding is a strided convolutional stem.

    Parameters
    ----------
    pretrained : bool
        Must be False: weights are loaded by the caller (e.g. from the
        packaged trunk file).
    img_size : int
        Input side in pixels, a multiple of ``patch_size``.
    patch_size : int
        Pixels per token side; must equal the product of ``stem_strides``.
    stem_channels, stem_strides : sequence of int
        Output channels and strides of the stem's 3 x 3 convolutions
        (BatchNorm + GELU after each but the last).
    **kwargs
        Passed to ``timm.models.vision_transformer.VisionTransformer``
        (``depth``, ``embed_dim``, ``num_heads``, ``num_classes``, ...).

    Returns
    -------
    vit : timm.models.VisionTransformer
    """
    from timm.models.vision_transformer import VisionTransformer
    from timm.models.vision_transformer_hybrid import ConvStem, HybridEmbed

    if pretrained:
        raise BrainembedError(f"{SIM_TRUNK_NAME} has no downloadable weights; load the packaged trunk file.")
    channels, strides = tuple(int(c) for c in stem_channels), tuple(int(s) for s in stem_strides)
    if len(channels) != len(strides) or not channels:
        raise BrainembedError("stem_channels and stem_strides must be non-empty and of the same length.")
    if any(stride not in (1, 2) for stride in strides):
        raise BrainembedError(f"stem_strides must be 1 or 2 (3 x 3 convolutions), got {list(strides)}.")
    if math.prod(strides) != int(patch_size):
        raise BrainembedError(f"patch_size {patch_size} must equal the product of stem_strides {list(strides)}.")
    if int(img_size) % int(patch_size):
        raise BrainembedError(f"img_size {img_size} must be a multiple of patch_size {patch_size}.")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm's factory passes these
        kwargs.pop(key, None)
    stem = ConvStem(in_chans=3, depth=len(channels), channels=channels, stride=strides, kernel_size=3,
                    act_layer=nn.GELU)
    return VisionTransformer(img_size=int(img_size), patch_size=1, embed_layer=partial(HybridEmbed, backbone=stem),
                             **kwargs)


def register_sim_trunk() -> str:
    """Register :func:`vit_sim_convstem` with timm (once) and return its name."""
    import timm
    from timm.models import register_model

    if not timm.is_model(SIM_TRUNK_NAME):
        register_model(vit_sim_convstem)
    return SIM_TRUNK_NAME


def normalise_images(images, mean, std) -> torch.Tensor:
    """The trunk's input: uint8 images scaled to [0, 1] and normalised per channel.

    Parameters
    ----------
    images : array or tensor of shape (n, S, S, 3), uint8
    mean, std : sequence of 3 floats
        Per-channel mean and standard deviation (of [0, 1] pixel values).

    Returns
    -------
    x : tensor of shape (n, 3, S, S), float32
    """
    x = torch.as_tensor(np.asarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
