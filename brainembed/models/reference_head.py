"""A literal transcription of the voxel-head equations (SPEC §1.4–1.7).

Slow on purpose: every (image, voxel) pair gets its own query, keys carry a
bias, the MLP output is formed in full, layers are concatenated before the
readout. The ablations of paper appendix E are transcribed as literally:
``attention="mean"`` gives every (image, voxel) pair attention weights 1/P on
every token (no query, key or position weights), ``readout="shared"`` uses
one weight vector of length L·C, the same for every voxel, in place of
``e·F``. It exists to check :class:`~brainembed.models.head.VoxelHead`
(tests) and to measure its speed-up (benchmarks). Build it from a fast head
with :meth:`ReferenceVoxelHead.from_head` to get the same function.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from brainembed.errors import BrainembedError

__all__ = ["ReferenceVoxelHead"]


class ReferenceVoxelHead(nn.Module):
    """Literal voxel head; same arguments as :class:`~brainembed.models.head.VoxelHead`."""

    def __init__(
        self,
        n_layers: int,
        n_tokens: int,
        feature_dim: int,
        embed_dim: int,
        n_voxels: int,
        *,
        embedding_init_std: float = 0.1 / 32,
        attention: str = "spatial",
        attention_scale: str = "none",
        readout: str = "linear",
        readout_init_std: float = 1e-3,
        voxel_bias: bool = False,
        mlp_ratio: int = 4,
        mlp_dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if attention not in ("spatial", "mean"):
            raise BrainembedError(f"attention must be 'spatial' or 'mean', got {attention!r}.")
        if readout not in ("linear", "softmax", "shared"):
            raise BrainembedError(f"readout must be 'linear', 'softmax' or 'shared', got {readout!r}.")
        L, P, C, E = n_layers, n_tokens, feature_dim, embed_dim
        self.embeddings = nn.Parameter(torch.randn(n_voxels, E) * embedding_init_std)
        self.voxel_bias = nn.Parameter(torch.zeros(n_voxels)) if voxel_bias else None
        self.mean_attention = attention == "mean"
        if self.mean_attention:  # uniform weights 1/P: no query, key or position weights
            self.query = self.key = self.pos = None
        else:
            self.query = nn.ModuleList(nn.Linear(E, E) for _ in range(L))  # Wq: E -> E
            self.key = nn.ModuleList(nn.Linear(C, E) for _ in range(L))  # Wk: C -> E
            self.pos = nn.Parameter(torch.randn(P, E) * 0.02)  # (P, E), shared by layers
        self.norm = nn.ModuleList(nn.LayerNorm(C) for _ in range(L))
        self.dropout = nn.Dropout(mlp_dropout)
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.Linear(C, mlp_ratio * C), nn.GELU(), nn.Linear(mlp_ratio * C, C)) for _ in range(L)
        )
        if readout == "shared":  # one w for every voxel, no F
            self.functional = None
            self.shared = nn.Parameter(torch.randn(L * C) * readout_init_std)  # w: (L*C,)
        else:
            self.functional = nn.Parameter(torch.randn(E, L * C) * readout_init_std)  # F: (E, L*C)
            self.shared = None
        self.scale = 1.0 / math.sqrt(E) if attention_scale == "sqrt" else 1.0
        self.softmax_readout = readout == "softmax"
        self.n_layers = L

    @classmethod
    def from_head(cls, head: nn.Module) -> ReferenceVoxelHead:
        """A reference head computing the same function as a fast ``VoxelHead``."""
        attention = head.attention
        spatial = attention.mode == "spatial"
        reference = cls(
            head.n_layers, head.n_tokens, head.feature_dim, head.embeddings.embed_dim, head.n_voxels,
            attention=attention.mode,
            attention_scale=attention.scale if spatial else "none",
            readout=head.readout.mode,
            voxel_bias=head.embeddings.bias is not None,
            mlp_ratio=head.mlps[0].fc1.out_features // head.feature_dim,
            mlp_dropout=head.mlps[0].dropout.p,
        ).to(device=head.embeddings.weight.device, dtype=head.embeddings.weight.dtype)
        with torch.no_grad():
            reference.embeddings.copy_(head.embeddings.weight)
            if reference.voxel_bias is not None:
                reference.voxel_bias.copy_(head.embeddings.bias)
            (reference.shared if reference.shared is not None else reference.functional).copy_(head.readout.weight)
            if spatial:
                reference.pos.copy_(attention.positions)
            for layer in range(head.n_layers):
                if spatial:
                    reference.query[layer].load_state_dict(attention.queries[layer].state_dict())
                    reference.key[layer].weight.copy_(attention.keys[layer].weight)
                    reference.key[layer].bias.zero_()
                mlp = head.mlps[layer]
                reference.norm[layer].load_state_dict(mlp.norm.state_dict())
                reference.mlp[layer][0].load_state_dict(mlp.fc1.state_dict())
                reference.mlp[layer][2].load_state_dict(mlp.fc2.state_dict())
        reference.train(head.training)
        return reference

    def forward(self, features: torch.Tensor, voxel_idx: torch.Tensor) -> torch.Tensor:
        """Features of shape (B, L, P, C) and indices (V,) or (B, V) to predictions (B, V)."""
        batch = features.shape[0]
        if voxel_idx.ndim == 1:
            voxel_idx = voxel_idx.unsqueeze(0).expand(batch, -1)
        e = self.embeddings[voxel_idx]  # (B, V, E)
        n_voxels, n_tokens = voxel_idx.shape[1], features.shape[2]
        per_layer = []
        for layer in range(self.n_layers):
            x = features[:, layer]  # (B, P, C)
            if self.mean_attention:
                a = x.new_full((batch, n_voxels, n_tokens), 1.0 / n_tokens)  # (B, V, P), uniform
            else:
                q = self.query[layer](e)  # (B, V, E)
                k = self.key[layer](x) + self.pos  # (B, P, E)
                a = torch.softmax(q @ k.transpose(1, 2) * self.scale, dim=-1)  # (B, V, P)
            out = a @ x  # (B, V, C)
            y = self.dropout(self.norm[layer](out))
            per_layer.append(y + self.mlp[layer](y))  # (B, V, C)
        h = torch.cat(per_layer, dim=-1)  # (B, V, L*C)
        if self.shared is not None:
            w = self.shared.expand(batch, n_voxels, -1)  # (B, V, L*C), the same for every voxel
        else:
            w = e @ self.functional  # (B, V, L*C)
        if self.softmax_readout:
            w = torch.softmax(w, dim=-1)
        prediction = (w * h).sum(-1)  # (B, V)
        if self.voxel_bias is not None:
            prediction = prediction + self.voxel_bias[voxel_idx]
        return prediction
