"""Named encoder configurations and ``create_encoder`` (timm-style registry).

A registered encoder is a function that takes no argument and returns an
:class:`~brainembed.config.EncoderConfig`; its name is the function's name::

    @register_encoder
    def ube_paper() -> EncoderConfig:
        return EncoderConfig(...)

    model = create_encoder("ube_paper", n_voxels=316_000)

Adding ``ube_sim`` (the stimulus-world trunk shipped as package data) needs
only one more such function: return a config whose ``backbone`` and
``backbone_kwargs`` describe the trunk's timm architecture and whose
``pretrained`` is the path of the shipped weights file, resolved inside the
function (e.g. with ``importlib.resources``) so nothing is read at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from brainembed.config import EncoderConfig
from brainembed.errors import BrainembedError
from brainembed.models.sim_trunk import SIM_TRUNK_KWARGS, SIM_TRUNK_NAME

__all__ = ["register_encoder", "create_encoder", "list_encoders", "get_encoder_config"]

_ENCODERS: dict[str, Callable[[], EncoderConfig]] = {}


def register_encoder(make_config: Callable[[], EncoderConfig]) -> Callable[[], EncoderConfig]:
    """Register a configuration function under its own name (decorator)."""
    _ENCODERS[make_config.__name__] = make_config
    return make_config


def list_encoders() -> list[str]:
    """Names of the registered encoders, sorted."""
    return sorted(_ENCODERS)


def get_encoder_config(name: str, **overrides: Any) -> EncoderConfig:
    """The configuration registered as ``name``, with fields overridden.

    Raises
    ------
    BrainembedError
        For an unknown name or an unknown / invalid field.
    """
    if name not in _ENCODERS:
        raise BrainembedError(f"Unknown encoder {name!r}; known encoders are {', '.join(list_encoders())}.")
    config = _ENCODERS[name]()
    return config.replace(**overrides) if overrides else config


def create_encoder(name_or_config: str | EncoderConfig, n_voxels: int | None = None, **overrides: Any):
    """Build a :class:`~brainembed.models.UniversalBrainEncoder`.

    Parameters
    ----------
    name_or_config : str or EncoderConfig
        A registered name (see :func:`list_encoders`) or a full configuration.
    n_voxels : int, optional
        Total number of voxels of all subjects; required unless the
        configuration already sets it.
    **overrides
        Any other :class:`~brainembed.config.EncoderConfig` field.

    Returns
    -------
    encoder : UniversalBrainEncoder
    """
    from brainembed.models.encoder import UniversalBrainEncoder

    if n_voxels is not None:
        overrides["n_voxels"] = n_voxels
    if isinstance(name_or_config, EncoderConfig):
        config = name_or_config.replace(**overrides) if overrides else name_or_config
    elif isinstance(name_or_config, str):
        config = get_encoder_config(name_or_config, **overrides)
    else:
        raise BrainembedError(
            f"create_encoder expects an encoder name or an EncoderConfig, got {type(name_or_config).__name__}."
        )
    return UniversalBrainEncoder(config)


@register_encoder
def ube_paper() -> EncoderConfig:
    """The paper's encoder: frozen DINOv2 ViT-L/14 with registers, 224 px, pretrained weights required."""
    return EncoderConfig(
        backbone="vit_large_patch14_reg4_dinov2.lvd142m",
        pretrained="cache",
        img_size=224,
        layers=(1, 6, 12, 18, 24),
        freeze_backbone=True,
        adapter="residual",
    )


@register_encoder
def ube_small() -> EncoderConfig:
    """A small ViT (4 blocks, width 192, 112 px, patch 16) trained from scratch on a CPU."""
    return EncoderConfig(
        backbone="vit_tiny_patch16_224",
        backbone_kwargs={"patch_size": 16, "depth": 4, "embed_dim": 192, "num_heads": 3},
        pretrained=False,
        img_size=112,
        layers=(1, 2, 3, 4),
        freeze_backbone=False,
        adapter="none",
    )


@register_encoder
def ube_tiny() -> EncoderConfig:
    """A minute encoder for tests: 2 blocks of width 32, 32 px, patch 8, frozen, with adapter."""
    return EncoderConfig(
        backbone="vit_tiny_patch16_224",
        backbone_kwargs={"patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
        pretrained=False,
        img_size=32,
        layers=(1, 2),
        freeze_backbone=True,
        adapter="residual",
        proj_dim=16,
        embed_dim=32,
        chunk_size=64,
    )


@register_encoder
def ube_sim() -> EncoderConfig:
    """The simulated-crowd configuration: the shipped stimulus-world trunk, frozen, as DINOv2 is in the paper.

    The trunk (``brainembed pretrain``) is a 6-block, 192-wide ViT at 112 px
    with a convolutional stem of stride 16 (7 x 7 patches + CLS), pretrained
    on procedural stimuli (:mod:`brainembed.models.sim_trunk`); the encoder
    reads blocks 1, 3, 5 and 6, one early block and the semantic end, as the
    paper reads blocks 1, 6, 12, 18 and 24 of DINOv2. No adapter, so the
    backbone's tokens can be cached once and every epoch costs only the
    projection and the voxel head; the head is narrower than the paper's
    (C = 64, E = 128, MLP ratio 2) to train in minutes on a 2-core CPU, where
    the per-voxel MLPs dominate the cost of a step.
    """
    return EncoderConfig(
        backbone=SIM_TRUNK_NAME,
        backbone_kwargs=dict(SIM_TRUNK_KWARGS),
        pretrained="brainembed:sim_trunk",
        img_size=112,
        layers=(1, 3, 5, 6),
        freeze_backbone=True,
        adapter="none",
        proj_dim=64,
        embed_dim=128,
        mlp_ratio=2,
        chunk_size=4096,
    )
