"""The Universal Brain Encoder: backbone wrapper, adapters, voxel head, registry.

Importing this package imports torch but not timm; no model is built and no
file is read until a function is called.
"""

from brainembed.models.adapter import LoRALinear, LowRankUpdate, ResidualAdapter
from brainembed.models.backbone import ViTBackbone, create_vit, find_cached_weights, load_weights_file
from brainembed.models.embeddings import VoxelEmbeddingTable
from brainembed.models.encoder import UniversalBrainEncoder
from brainembed.models.head import (
    FunctionalReadout,
    MeanAttention,
    ResidualMLP,
    SharedReadout,
    SpatialAttention,
    VoxelHead,
)
from brainembed.models.projection import LayerProjection
from brainembed.models.reference_head import ReferenceVoxelHead
from brainembed.models.registry import create_encoder, get_encoder_config, list_encoders, register_encoder

__all__ = [
    "UniversalBrainEncoder",
    "create_encoder",
    "get_encoder_config",
    "list_encoders",
    "register_encoder",
    "ViTBackbone",
    "create_vit",
    "find_cached_weights",
    "load_weights_file",
    "ResidualAdapter",
    "LoRALinear",
    "LowRankUpdate",
    "LayerProjection",
    "VoxelEmbeddingTable",
    "SpatialAttention",
    "MeanAttention",
    "ResidualMLP",
    "FunctionalReadout",
    "SharedReadout",
    "VoxelHead",
    "ReferenceVoxelHead",
]
