"""Original DINOv2 (torch hub) checkpoints → timm's ``VisionTransformer`` layout.

The weights published by Meta (``torch.hub.load("facebookresearch/dinov2",
"dinov2_vitl14_reg")``, cached as ``dinov2_vitl14_reg4_pretrain.pth``) name
their tensors differently from timm's ``vit_*_patch14[_reg4]_dinov2`` models:

=================================  =====================================
DINOv2 hub                         timm
=================================  =====================================
``register_tokens`` (1, R, D)      ``reg_token`` (1, R, D)
``cls_token`` + ``pos_embed[:, 0]``  ``cls_token`` (registers models: timm adds no
                                   position to prefix tokens, DINOv2 adds
                                   ``pos_embed[:, 0]`` to the CLS token)
``pos_embed`` (1, 1 + N, D)        ``pos_embed`` (1, N, D) with registers,
                                   unchanged (1, 1 + N, D) without
``mask_token``                     (dropped; used only for iBOT training)
``blocks.<chunk>.<i>.…``           ``blocks.<i>.…`` (block-chunked checkpoints)
``blocks.<i>.mlp.w12`` / ``w3``    ``blocks.<i>.mlp.fc1`` / ``fc2`` (ViT-g SwiGLU)
``backbone.``, ``teacher.backbone.``, ``module.`` prefixes   (removed)
=================================  =====================================

Everything else (``patch_embed.proj``, ``blocks.<i>.norm1/attn.qkv/attn.proj/
ls1.gamma/norm2/mlp.fc1/mlp.fc2/ls2.gamma``, ``norm``) has the same name. The
position embedding is resampled to the model's grid afterwards by timm (the
hub weights are for 518 px, 37 × 37 patches).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["dinov2_hub_to_timm", "find_hub_checkpoint", "hub_checkpoint_name", "is_dinov2_hub_layout",
           "resample_dinov2_pos_embed", "to_timm_layout"]

_PREFIXES = ("module.", "teacher.backbone.", "student.backbone.", "backbone.")
_CHUNKED = re.compile(r"^blocks\.\d+\.(\d+)\.")
_SIZES = {"small": "s", "base": "b", "large": "l", "giant": "g"}


def _strip_prefix(state: dict) -> dict:
    for prefix in _PREFIXES:
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def is_dinov2_hub_layout(state: dict) -> bool:
    """Whether a state dict uses the original DINOv2 names (rather than timm's)."""
    keys = set(_strip_prefix(state)) if any(k.startswith(_PREFIXES) for k in state) else set(state)
    if "mask_token" in keys or "register_tokens" in keys:
        return True
    if any(_CHUNKED.match(k) for k in keys) and "blocks.0.norm1.weight" not in keys:
        return True
    return any(k.startswith(_PREFIXES) for k in state) and "patch_embed.proj.weight" in keys


def dinov2_hub_to_timm(state: dict) -> dict:
    """Rename (and fold) an original DINOv2 state dict into timm's layout.

    Parameters
    ----------
    state : dict of str to tensor
        A DINOv2 hub state dict, optionally under ``backbone.`` /
        ``teacher.backbone.`` / ``module.`` (training checkpoints; heads such
        as ``dino_head`` are dropped).

    Returns
    -------
    dict of str to tensor
        timm names; for models with registers the CLS position is folded into
        ``cls_token`` and ``pos_embed`` keeps only the patch positions.
    """
    state = dict(_strip_prefix(state))
    state.pop("mask_token", None)
    out = {}
    if "register_tokens" in state:
        pos = state.pop("pos_embed")
        out["reg_token"] = state.pop("register_tokens")
        out["cls_token"] = state.pop("cls_token") + pos[:, :1]
        out["pos_embed"] = pos[:, 1:]
    for key, value in state.items():
        key = _CHUNKED.sub(r"blocks.\1.", key)
        key = re.sub(r"^(blocks\.\d+\.mlp\.)w12\.", r"\1fc1.", key)
        key = re.sub(r"^(blocks\.\d+\.mlp\.)w3\.", r"\1fc2.", key)
        out[key] = value
    return out


def to_timm_layout(state: dict) -> dict:
    """``state`` converted by :func:`dinov2_hub_to_timm` when it is in the hub layout, else unchanged."""
    return dinov2_hub_to_timm(state) if is_dinov2_hub_layout(state) else state


def resample_dinov2_pos_embed(state: dict, grid: int) -> dict:
    """Resample ``pos_embed`` of a timm-layout DINOv2 state dict to ``grid`` x ``grid`` patches, as Meta's code does.

    Meta's ``DinoVisionTransformer.interpolate_pos_encoding`` calls
    ``F.interpolate(pos, scale_factor=((grid + 0.1) / M, (grid + 0.1) / M),
    mode="bicubic")`` on the M x M patch positions; with the scale factor given,
    PyTorch maps output pixel i to input coordinate ``(i + 0.5) * M / (grid +
    0.1) - 0.5``, which is what makes the result differ from an exact-size
    resize. A leading CLS position (models without registers) is kept as it is.

    Parameters
    ----------
    state : dict of str to tensor
        timm layout (see :func:`to_timm_layout`); ``pos_embed`` of shape
        (1, [1 +] M * M, D).
    grid : int
        Target patches per side (image side // 14).

    Returns
    -------
    dict of str to tensor
        ``state`` with ``pos_embed`` of shape (1, [1 +] grid * grid, D) (the
        same dict when nothing changes).
    """
    import math

    import torch
    import torch.nn.functional as F

    pos = state.get("pos_embed")
    if pos is None or pos.ndim != 3:
        return state
    n = pos.shape[1]
    side = math.isqrt(n)
    prefix = 0 if side * side == n else 1
    side = math.isqrt(n - prefix)
    if side * side != n - prefix or side == grid:
        return state
    dim = pos.shape[-1]
    patches = pos[:, prefix:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = (grid + 0.1) / side
    patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic")
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, dim).to(pos.dtype)
    return {**state, "pos_embed": torch.cat([pos[:, :prefix], patches], dim=1)}


def hub_checkpoint_name(model_name: str) -> str | None:
    """File name torch hub caches the original weights of a timm DINOv2 model under, or None.

    ``"vit_large_patch14_reg4_dinov2.lvd142m"`` → ``"dinov2_vitl14_reg4_pretrain.pth"``.
    """
    match = re.match(r"^vit_(small|base|large|giant)_patch14_(reg4_)?dinov2(\.|$)", model_name)
    if not match:
        return None
    return f"dinov2_vit{_SIZES[match.group(1)]}14{'_reg4' if match.group(2) else ''}_pretrain.pth"


def find_hub_checkpoint(model_name: str) -> Path | None:
    """The original DINOv2 checkpoint of a timm model in torch hub's cache (``TORCH_HOME``), offline."""
    import torch

    name = hub_checkpoint_name(model_name)
    if name is None:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    return path if path.is_file() else None
