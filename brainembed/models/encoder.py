"""The Universal Brain Encoder: backbone (+ adapter) → projection → voxel head."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from brainembed.config import EncoderConfig
from brainembed.errors import BrainembedError
from brainembed.models.backbone import ViTBackbone, create_vit
from brainembed.models.head import VoxelHead
from brainembed.models.projection import LayerProjection

__all__ = ["UniversalBrainEncoder"]


class UniversalBrainEncoder(nn.Module):
    """One image-to-fMRI model shared by every voxel of every subject.

    ``forward(images, voxel_idx)`` predicts one scalar per (image, voxel).
    The trunk (backbone, adapter, per-layer projection) maps images to
    features of shape (B, L, P, C); the voxel head maps features and voxel
    embeddings to responses.

    Parameters
    ----------
    config : EncoderConfig
        Every hyper-parameter; ``config.n_voxels`` must be positive.
    vit : nn.Module, optional
        A ready timm ViT to use instead of building ``config.backbone``
        (e.g. a trunk loaded by the caller).

    Attributes
    ----------
    config : EncoderConfig
        The resolved configuration (kept up to date by :meth:`add_voxels`).
    backbone : ViTBackbone
    projection : LayerProjection
    head : VoxelHead
    """

    def __init__(self, config: EncoderConfig, vit: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(config, EncoderConfig):
            raise BrainembedError(f"config must be an EncoderConfig, got {type(config).__name__}.")
        if config.n_voxels < 1:
            raise BrainembedError("EncoderConfig.n_voxels must be positive: give the total number of voxels.")
        self.config = config
        if vit is None:
            vit = create_vit(config.backbone, config.img_size, config.pretrained, **config.backbone_kwargs)
        self.backbone = ViTBackbone(
            vit,
            config.layers,
            keep_cls=config.keep_cls,
            adapter=config.adapter,
            adapter_rank=config.adapter_rank,
            adapter_alpha=config.adapter_alpha,
            freeze=config.freeze_backbone,
        )
        self.projection = LayerProjection(self.backbone.n_layers, self.backbone.embed_dim, config.proj_dim)
        self.head = VoxelHead(
            self.backbone.n_layers,
            self.backbone.n_tokens,
            config.proj_dim,
            config.embed_dim,
            config.n_voxels,
            embedding_init_std=config.embedding_init_std,
            attention=config.attention,
            attention_scale=config.attention_scale,
            readout=config.readout,
            readout_init_std=config.readout_init_std,
            voxel_bias=config.voxel_bias,
            mlp_ratio=config.mlp_ratio,
            mlp_dropout=config.mlp_dropout,
        )

    @property
    def n_voxels(self) -> int:
        """N_total, the number of voxels of all subjects."""
        return self.head.n_voxels

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(L, P, C), the shape of one image's features."""
        return self.backbone.n_layers, self.backbone.n_tokens, self.config.proj_dim

    @property
    def backbone_is_frozen(self) -> bool:
        """True when no backbone or adapter weight trains: :meth:`forward_backbone` output can be cached."""
        return not any(p.requires_grad for p in self.backbone.parameters())

    @property
    def trunk_is_frozen(self) -> bool:
        """True when the projection is frozen too: :meth:`forward_features` output can be cached."""
        return self.backbone_is_frozen and not any(p.requires_grad for p in self.projection.parameters())

    def forward_backbone(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone tokens of shape (B, L, P, D) of normalised images (B, 3, H, W)."""
        return self.backbone(images)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Image features (what a feature cache stores when the trunk is frozen).

        Parameters
        ----------
        images : tensor of shape (B, 3, H, W)
            Normalised float images at ``config.img_size`` (see :meth:`preprocess`).

        Returns
        -------
        features : tensor of shape (B, L, P, C)
            ``projection(forward_backbone(images))``.
        """
        return self.projection(self.backbone(images))

    def forward_head(self, features: torch.Tensor, voxel_idx: torch.Tensor) -> torch.Tensor:
        """Predictions of shape (B, V) from features (B, L, P, C) and indices (V,) or (B, V)."""
        return self.head(features, voxel_idx)

    def forward(self, images: torch.Tensor, voxel_idx: torch.Tensor) -> torch.Tensor:
        """Predicted responses.

        Parameters
        ----------
        images : tensor of shape (B, 3, H, W)
            Normalised float images.
        voxel_idx : tensor of shape (V,) or (B, V)
            Global voxel indices, shared by the batch or per image.

        Returns
        -------
        prediction : tensor of shape (B, V)
        """
        return self.forward_head(self.forward_features(images), voxel_idx)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, voxel_idx: torch.Tensor | None = None,
                chunk_size: int | None = None) -> torch.Tensor:
        """Predictions in eval mode without gradients, voxels in chunks.

        Parameters
        ----------
        images : tensor of shape (B, 3, H, W)
            Normalised float images.
        voxel_idx : tensor of shape (V,) or (B, V), optional
            Default: all ``n_voxels`` voxels.
        chunk_size : int, optional
            Voxels per chunk; default ``config.chunk_size``.

        Returns
        -------
        prediction : tensor of shape (B, V)
        """
        was_training = self.training
        self.eval()
        try:
            features = self.forward_features(images)
            return self.head.predict(features, voxel_idx, chunk_size or self.config.chunk_size)
        finally:
            self.train(was_training)

    def preprocess(self, images: Any) -> torch.Tensor:
        """Turn uint8 images into normalised float input on the model's device.

        Parameters
        ----------
        images : array or tensor of uint8, shape (B, H, W, 3), (B, 3, H, W) or (B, H, W)
            RGB images channels-last or channels-first, or grayscale
            (repeated to 3 channels).

        Returns
        -------
        images : tensor of shape (B, 3, S, S), float32
            Resized to ``S = config.img_size`` (bilinear, antialiased) and
            normalised with ``config.image_mean`` / ``config.image_std``.
        """
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(np.ascontiguousarray(images))
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            kind = images.dtype if isinstance(images, (torch.Tensor, np.ndarray)) else type(images).__name__
            raise BrainembedError(f"preprocess expects uint8 images (0-255), got {kind}.")
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.ndim != 4:
            raise BrainembedError(
                f"images must have shape (B, H, W, 3), (B, 3, H, W) or (B, H, W), got {tuple(images.shape)}."
            )
        if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
            images = images.permute(0, 3, 1, 2)
        if images.shape[1] not in (1, 3):
            raise BrainembedError(f"images must have 1 or 3 colour channels, got shape {tuple(images.shape)}.")
        device = next(self.parameters()).device
        x = images.to(device=device, dtype=torch.float32).div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = (self.config.img_size, self.config.img_size)
        if tuple(x.shape[2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(self.config.image_mean, device=device).view(1, 3, 1, 1)
        std = torch.tensor(self.config.image_std, device=device).view(1, 3, 1, 1)
        return (x - mean) / std

    def param_groups(self, lr: float, embedding_lr_mult: float = 1.0) -> list[dict[str, Any]]:
        """Optimizer parameter groups: voxel embeddings apart from the rest.

        Only trainable parameters are listed; empty groups are left out.

        Parameters
        ----------
        lr : float
            Learning rate of the shared weights.
        embedding_lr_mult : float
            The voxel embeddings (and per-voxel biases) learn at
            ``lr * embedding_lr_mult``.

        Returns
        -------
        groups : list of dict
            ``{"name", "params", "lr"}`` dicts for ``torch.optim`` optimizers.
        """
        per_voxel = {id(p) for p in self.head.embeddings.parameters()}
        shared = [p for p in self.parameters() if p.requires_grad and id(p) not in per_voxel]
        voxel = [p for p in self.head.embeddings.parameters() if p.requires_grad]
        groups = [
            {"name": "shared", "params": shared, "lr": lr},
            {"name": "voxel_embeddings", "params": voxel, "lr": lr * embedding_lr_mult},
        ]
        return [group for group in groups if group["params"]]

    def add_voxels(self, n_new: int, generator: torch.Generator | None = None,
                   values: torch.Tensor | None = None) -> slice:
        """Append embeddings for a new subject; return their global indices.

        Fresh rows are drawn like the initial ones unless ``values`` of shape
        (n_new, E) are given. Build optimizers after calling this (the
        embedding parameter is replaced).
        """
        rows = self.head.embeddings.append(n_new, generator=generator, values=values)
        self.config = self.config.replace(n_voxels=self.head.n_voxels)
        return rows
