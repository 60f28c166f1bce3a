"""The voxel head: spatial attention, per-layer MLPs and the functional readout.

Given image features of shape (B, L, P, C) and voxel indices, the head looks
up each voxel's embedding e (E values) and predicts one scalar per (image,
voxel) (SPEC §1.4–1.7). Written for speed; :mod:`.reference_head` holds a
literal transcription of the same equations used to check it.

How the fast path differs from the literal equations (same result):

- Spatial-attention logits ``q·k`` with ``q = Wq e + bq`` and
  ``k = Wk x + pos`` are regrouped so that no (image, voxel) pair pays for a
  query projection. A key bias only adds the same value to every logit of a
  voxel, which softmax ignores, so the keys have none.
- When all images share the same voxels (index of shape (V,)), the key
  projection is folded into the voxel query: ``q·k = (Wkᵀ q)·x + q·pos``,
  and every term that depends only on the voxel (query terms, readout
  weights, and the readout pushed through the MLP's last linear layer) is
  computed once per voxel instead of once per (image, voxel).
- When every image has its own voxels (index of shape (B, V), training), the
  query projection is folded into the keys instead: ``q·k = e·(Wqᵀ k) + bq·k``
  with ``Wqᵀ k`` computed once per image and layer, so a pair costs one dot
  product of width E per token and no E×E projection.
- Without gradients (inference), voxels shared by the batch are processed in
  tiles of a few hundred voxels × a few images whose intermediates stay in
  the CPU cache, looked up from the table one tile at a time: peak memory
  besides the (B, V) output does not grow with the number of voxels and no
  (B, V, P) attention map is ever formed in full.

With voxels shared by the batch the head does about half the multiply-adds
of the literal one; with different voxels per image about 80 %.

Two ablations of paper appendix E replace a component (``EncoderConfig``
fields ``attention`` and ``readout``); every path above honours them:

- ``attention="mean"`` (without spatial attention, :class:`MeanAttention`):
  every voxel gets the uniform average of a layer's P tokens. The attended
  features then depend on the image only, so unless dropout is active (it
  draws a mask per (image, voxel) pair) the per-layer MLPs run once per
  image and a prediction is one dot product of width L·C per pair.
- ``readout="shared"`` (without the functional readout,
  :class:`SharedReadout`): one learned weight vector of length L·C for every
  voxel instead of ``e·F``; it broadcasts where voxel weights are expected.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from brainembed.errors import BrainembedError
from brainembed.models.embeddings import VoxelEmbeddingTable
from brainembed.validation import check_count

__all__ = ["SpatialAttention", "MeanAttention", "ResidualMLP", "FunctionalReadout", "SharedReadout", "VoxelHead"]

ATTENTION_MODES = ("spatial", "mean")
READOUT_MODES = ("linear", "softmax", "shared")


def _gelu_(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU in place (as ``nn.GELU()``), saving a buffer on the inference path."""
    return torch.ops.aten.gelu_(x)


class SpatialAttention(nn.Module):
    """Voxel-to-patch attention, separate weights per layer.

    For layer l: ``q = Wq_l e + bq_l`` (E→E), ``k = Wk_l x_l + pos`` (C→E,
    ``pos`` of shape (P, E) shared by layers), ``a = softmax_P(q·kᵀ · s)``
    with ``s = 1`` or ``1/√E``, output ``a·x_l`` of width C.

    Parameters
    ----------
    n_layers, n_tokens, feature_dim, embed_dim : int
        L, P, C and E.
    scale : {"none", "sqrt"}
        Logit scale ``s``.
    """

    mode = "spatial"

    def __init__(self, n_layers: int, n_tokens: int, feature_dim: int, embed_dim: int, scale: str = "none") -> None:
        super().__init__()
        if scale not in ("none", "sqrt"):
            raise BrainembedError(f"attention scale must be 'none' or 'sqrt', got {scale!r}.")
        self.queries = nn.ModuleList(nn.Linear(embed_dim, embed_dim) for _ in range(n_layers))
        self.keys = nn.ModuleList(nn.Linear(feature_dim, embed_dim, bias=False) for _ in range(n_layers))
        self.positions = nn.Parameter(torch.empty(n_tokens, embed_dim))
        nn.init.normal_(self.positions, std=0.02)
        self.n_layers, self.n_tokens, self.feature_dim, self.embed_dim = n_layers, n_tokens, feature_dim, embed_dim
        self.scale = scale
        self.logit_scale = 1.0 / math.sqrt(embed_dim) if scale == "sqrt" else 1.0

    def folded_queries(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Matrices and offsets that map an embedding to every layer's query terms.

        Returns
        -------
        content_matrix : tensor of shape (E, L·C)
            Columns of layer l: ``s·Wq_lᵀ Wk_l``.
        content_offset : tensor of shape (L·C,)
            ``s·bq_lᵀ Wk_l`` for every layer.
        position_matrix : tensor of shape (E, L·P)
            Columns of layer l: ``s·Wq_lᵀ posᵀ``.
        position_offset : tensor of shape (L·P,)
            ``s·bq_lᵀ posᵀ`` for every layer.
        """
        query_weight = torch.stack([q.weight for q in self.queries])  # (L, E_out, E_in)
        query_bias = torch.stack([q.bias for q in self.queries])  # (L, E)
        key_weight = torch.stack([k.weight for k in self.keys])  # (L, E, C)
        if self.logit_scale != 1.0:
            query_weight, query_bias = query_weight * self.logit_scale, query_bias * self.logit_scale
        embed_dim = self.embed_dim
        content_matrix = (query_weight.transpose(1, 2) @ key_weight).transpose(0, 1).reshape(embed_dim, -1)
        content_offset = (query_bias.unsqueeze(1) @ key_weight).reshape(-1)
        position_matrix = (query_weight.transpose(1, 2) @ self.positions.t()).transpose(0, 1).reshape(embed_dim, -1)
        position_offset = (query_bias @ self.positions.t()).reshape(-1)
        return content_matrix, content_offset, position_matrix, position_offset

    def query_terms(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-voxel query terms of every layer (voxels shared by the batch).

        Parameters
        ----------
        embeddings : tensor of shape (V, E)

        Returns
        -------
        content : tensor of shape (V, L, C)
            ``s·Wkᵀ q`` of each layer: the logits are ``content·x``.
        position : tensor of shape (V, L, P)
            ``s·q·posᵀ`` of each layer, added to the logits.
        """
        content_matrix, content_offset, position_matrix, position_offset = self.folded_queries()
        n_voxels = embeddings.shape[0]
        content = torch.addmm(content_offset, embeddings, content_matrix).view(n_voxels, self.n_layers, -1)
        position = torch.addmm(position_offset, embeddings, position_matrix).view(n_voxels, self.n_layers, -1)
        return content, position

    def image_keys(self, features: torch.Tensor, layer: int,
                   folded: tuple[torch.Tensor, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys of one layer with the query projection folded in (voxels per image).

        The logits of a voxel with embedding e are ``e·keys + offsets``.

        Parameters
        ----------
        features : tensor of shape (B, L, P, C)
        layer : int
        folded : tuple, optional
            :meth:`folded_queries`, if already computed.

        Returns
        -------
        keys : tensor of shape (B, E, P)
            ``s·Wqᵀ (Wk x + pos)`` of every token.
        offsets : tensor of shape (B, P)
            ``s·bq·(Wk x + pos)`` of every token.
        """
        content_matrix, content_offset, position_matrix, position_offset = folded or self.folded_queries()
        width, n_tokens = self.feature_dim, self.n_tokens
        columns = slice(layer * width, (layer + 1) * width)
        tokens = slice(layer * n_tokens, (layer + 1) * n_tokens)
        x = features[:, layer]  # (B, P, C)
        keys = torch.matmul(content_matrix[:, columns], x.transpose(1, 2)) + position_matrix[:, tokens]
        offsets = torch.matmul(x, content_offset[columns]) + position_offset[tokens]
        return keys, offsets

    @staticmethod
    def attend(features: torch.Tensor, content: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Attention of voxels shared by the batch over one layer's P tokens.

        Parameters
        ----------
        features : tensor of shape (B, P, C)
            One layer's features x_l, contiguous.
        content : tensor of shape (V, C)
            Content query terms of that layer.
        position : tensor of shape (V, P)
            Position logits of that layer.

        Returns
        -------
        attended : tensor of shape (B, V, C)
        """
        batch, n_tokens, width = features.shape
        logits = (content @ features.reshape(batch * n_tokens, width).t()).view(-1, batch, n_tokens)
        weights = torch.softmax(logits + position.unsqueeze(1), dim=-1)  # (V, B, P)
        return torch.bmm(weights.transpose(0, 1), features)

    def extra_repr(self) -> str:
        return (f"layers={self.n_layers}, tokens={self.n_tokens}, features={self.feature_dim}, "
                f"embed={self.embed_dim}, scale={self.scale!r}")


class MeanAttention(nn.Module):
    """Uniform average over the tokens: the ablation without spatial attention.

    Every voxel gets ``mean_P x_l`` of layer l, i.e. attention weights 1/P
    on all P tokens, the same for all voxels; there are no query or key
    weights and no positional embedding, so this module has no parameters.

    Parameters
    ----------
    n_layers, n_tokens, feature_dim : int
        L, P and C.
    """

    mode = "mean"

    def __init__(self, n_layers: int, n_tokens: int, feature_dim: int) -> None:
        super().__init__()
        self.n_layers, self.n_tokens, self.feature_dim = n_layers, n_tokens, feature_dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Features of shape (B, L, P, C) to their token means of shape (B, L, C)."""
        return features.mean(dim=2)

    def extra_repr(self) -> str:
        return f"layers={self.n_layers}, tokens={self.n_tokens}, features={self.feature_dim}"


class ResidualMLP(nn.Module):
    """LayerNorm(C) → Dropout → ``y + MLP(y)`` with MLP = C→ratio·C→C, GELU.

    Parameters
    ----------
    width : int
        C.
    ratio : int
        Hidden width as a multiple of C.
    dropout : float
        Dropout probability after the LayerNorm.
    """

    def __init__(self, width: int, ratio: int = 4, dropout: float = 0.25) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(width, ratio * width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(ratio * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map tensor of shape (..., C) to shape (..., C)."""
        y = self.dropout(self.norm(x))
        return y + self.fc2(self.act(self.fc1(y)))

    def weighted_sum(self, x: torch.Tensor, weights: torch.Tensor,
                     pushed: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``Σ_c weights_c · forward(x)_c`` without forming ``forward(x)``.

        Uses ``w·(y + W2 g + b2) = w·y + (W2ᵀ w)·g + w·b2``, which saves the
        second linear layer when the weights are shared by the batch.

        Parameters
        ----------
        x : tensor of shape (B, V, C)
        weights : tensor of shape (V, C)
        pushed : (tensor of shape (V, ratio·C), tensor of shape (V,)), optional
            :meth:`push_weights` of ``weights``, if already computed.

        Returns
        -------
        total : tensor of shape (B, V)
        """
        pushed_weights, constant = self.push_weights(weights) if pushed is None else pushed
        y = self.dropout(self.norm(x))
        hidden = self.act(self.fc1(y))  # (B, V, ratio·C)
        return (y * weights).sum(-1) + (hidden * pushed_weights).sum(-1) + constant

    def push_weights(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Readout weights (V, C) pushed through the last linear layer: ``(W2ᵀ w, w·b2)``."""
        return weights @ self.fc2.weight, weights @ self.fc2.bias


class FunctionalReadout(nn.Module):
    """Readout weights ``w = e·F`` over the L·C features of a voxel.

    Parameters
    ----------
    n_layers, feature_dim, embed_dim : int
        L, C and E.
    softmax : bool
        Pass ``w`` through a softmax over the L·C features (paper text).
    init_std : float
        Standard deviation of F at initialisation.

    Attributes
    ----------
    weight : Parameter of shape (E, L·C)
        F.
    """

    def __init__(self, n_layers: int, feature_dim: int, embed_dim: int, softmax: bool = False,
                 init_std: float = 1e-3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(embed_dim, n_layers * feature_dim))
        nn.init.normal_(self.weight, std=init_std)
        self.n_layers, self.feature_dim, self.softmax = n_layers, feature_dim, softmax

    @property
    def mode(self) -> str:
        """``"softmax"`` or ``"linear"`` (the ``readout`` option)."""
        return "softmax" if self.softmax else "linear"

    def flat_weights(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Readout weights of shape (..., V, L·C) from embeddings of shape (..., V, E)."""
        weights = embeddings @ self.weight
        if self.softmax:
            weights = torch.softmax(weights, dim=-1)
        return weights

    def voxel_weights(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Readout weights of each layer from embeddings of shape (..., V, E).

        Returns
        -------
        weights : tuple of L tensors of shape (..., V, C)
        """
        return self.flat_weights(embeddings).unflatten(-1, (self.n_layers, self.feature_dim)).unbind(-2)

    def extra_repr(self) -> str:
        return f"layers={self.n_layers}, features={self.feature_dim}, softmax={self.softmax}"


class SharedReadout(nn.Module):
    """One readout weight vector for every voxel: the ablation without the functional readout.

    Our definition (paper appendix E does not detail it): the voxel-specific
    weights ``w = e·F`` are replaced by a single learned vector ``w`` of
    length L·C, the same for all voxels, with nothing else (no F, no
    softmax). A prediction is ``w·[h_1, ..., h_L]``; voxels differ only
    through what their embeddings do in the spatial attention (and the
    optional per-voxel bias).

    Parameters
    ----------
    n_layers, feature_dim : int
        L and C.
    init_std : float
        Standard deviation of ``w`` at initialisation (as F's rows).

    Attributes
    ----------
    weight : Parameter of shape (L·C,)
        w.
    """

    mode = "shared"

    def __init__(self, n_layers: int, feature_dim: int, init_std: float = 1e-3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_layers * feature_dim))
        nn.init.normal_(self.weight, std=init_std)
        self.n_layers, self.feature_dim = n_layers, feature_dim

    def flat_weights(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The weights of shape (1, L·C), broadcasting against (..., V, L·C); ``embeddings`` is unused."""
        return self.weight.unsqueeze(0)

    def voxel_weights(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Readout weights of each layer, broadcasting against (..., V, C).

        Returns
        -------
        weights : tuple of L tensors of shape (1, C)
        """
        return self.weight.view(1, self.n_layers, self.feature_dim).unbind(-2)

    def extra_repr(self) -> str:
        return f"layers={self.n_layers}, features={self.feature_dim}"


class VoxelHead(nn.Module):
    """Predict voxel responses from image features and voxel embeddings.

    Parameters
    ----------
    n_layers, n_tokens, feature_dim, embed_dim : int
        L, P, C and E.
    n_voxels : int
        N_total, rows of the voxel-embedding table.
    embedding_init_std : float
        See :class:`VoxelEmbeddingTable`.
    attention : {"spatial", "mean"}
        :class:`SpatialAttention`, or :class:`MeanAttention` (ablation
        without spatial attention: uniform average of the P tokens, no query,
        key or position weights).
    attention_scale : {"none", "sqrt"}
        See :class:`SpatialAttention`; ignored with ``attention="mean"``.
    readout : {"linear", "softmax", "shared"}
        :class:`FunctionalReadout` without or with its softmax, or
        :class:`SharedReadout` (ablation without the functional readout: one
        weight vector of length L·C for every voxel, no F).
    readout_init_std : float
        Standard deviation of F (or of the shared vector) at initialisation.
    voxel_bias : bool
        Add a learned per-voxel bias to the prediction.
    mlp_ratio, mlp_dropout : int, float
        See :class:`ResidualMLP`.
    """

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
        if attention not in ATTENTION_MODES:
            raise BrainembedError(f"attention must be one of {', '.join(ATTENTION_MODES)}, got {attention!r}.")
        if readout not in READOUT_MODES:
            raise BrainembedError(f"readout must be one of {', '.join(READOUT_MODES)}, got {readout!r}.")
        self.embeddings = VoxelEmbeddingTable(n_voxels, embed_dim, embedding_init_std, bias=voxel_bias)
        if attention == "spatial":
            self.attention = SpatialAttention(n_layers, n_tokens, feature_dim, embed_dim, attention_scale)
        else:
            if attention_scale not in ("none", "sqrt"):
                raise BrainembedError(f"attention scale must be 'none' or 'sqrt', got {attention_scale!r}.")
            self.attention = MeanAttention(n_layers, n_tokens, feature_dim)
        self.mlps = nn.ModuleList(ResidualMLP(feature_dim, mlp_ratio, mlp_dropout) for _ in range(n_layers))
        if readout == "shared":
            self.readout = SharedReadout(n_layers, feature_dim, readout_init_std)
        else:
            self.readout = FunctionalReadout(n_layers, feature_dim, embed_dim, readout == "softmax", readout_init_std)
        self.n_layers, self.n_tokens, self.feature_dim = n_layers, n_tokens, feature_dim

    @property
    def n_voxels(self) -> int:
        """N_total, the number of voxels the head knows."""
        return self.embeddings.n_voxels

    def _check_features(self, features: torch.Tensor) -> None:
        expected = (self.n_layers, self.n_tokens, self.feature_dim)
        if not isinstance(features, torch.Tensor) or features.ndim != 4 or tuple(features.shape[1:]) != expected:
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise BrainembedError(f"features must have shape (B, {', '.join(map(str, expected))}), got {shape}.")
        if not features.is_floating_point():
            raise BrainembedError(f"features must be a float tensor, got dtype {features.dtype}.")

    def check_inputs(self, features: torch.Tensor, voxel_idx: torch.Tensor) -> None:
        """Raise :class:`BrainembedError` unless features and indices fit the head."""
        self._check_features(features)
        if features.device.type != "meta":
            self.embeddings.check_indices(voxel_idx, batch_size=features.shape[0])
        elif voxel_idx.ndim == 2 and voxel_idx.shape[0] != features.shape[0]:
            raise BrainembedError(
                f"voxel_idx has {voxel_idx.shape[0]} rows but the batch holds {features.shape[0]} images."
            )

    def forward(self, features: torch.Tensor, voxel_idx: torch.Tensor) -> torch.Tensor:
        """Predicted responses.

        Parameters
        ----------
        features : tensor of shape (B, L, P, C)
            Projected image features.
        voxel_idx : tensor of shape (V,) or (B, V)
            Global voxel indices: the same voxels for every image, or
            different voxels per image.

        Returns
        -------
        prediction : tensor of shape (B, V)
        """
        self.check_inputs(features, voxel_idx)
        return self._predict_unchecked(features, voxel_idx)

    def _predict_unchecked(self, features: torch.Tensor, voxel_idx: torch.Tensor) -> torch.Tensor:
        bias = None if self.embeddings.bias is None else self.embeddings.bias[voxel_idx]
        return self._from_embeddings(features, self.embeddings(voxel_idx), bias)

    def forward_embeddings(self, features: torch.Tensor, embeddings: torch.Tensor,
                           bias: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions for given embedding vectors instead of table indices.

        Lets a caller train embeddings held outside the table (e.g. a new
        subject's, in transfer learning) and copy them in afterwards with
        :meth:`VoxelEmbeddingTable.append`.

        Parameters
        ----------
        features : tensor of shape (B, L, P, C)
        embeddings : tensor of shape (V, E) or (B, V, E)
            One embedding per voxel, shared by the batch or per image.
        bias : tensor of shape (V,) or (B, V), optional
            Per-voxel bias added to the prediction.

        Returns
        -------
        prediction : tensor of shape (B, V)
        """
        self._check_features(features)
        embed_dim = self.embeddings.embed_dim
        if (not isinstance(embeddings, torch.Tensor) or embeddings.ndim not in (2, 3)
                or embeddings.shape[-1] != embed_dim
                or (embeddings.ndim == 3 and embeddings.shape[0] != features.shape[0])):
            shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
            raise BrainembedError(
                f"embeddings must have shape (V, {embed_dim}) or ({features.shape[0]}, V, {embed_dim}), got {shape}."
            )
        if bias is not None and tuple(bias.shape) != tuple(embeddings.shape[:-1]):
            raise BrainembedError(f"bias must have shape {tuple(embeddings.shape[:-1])}, got {tuple(bias.shape)}.")
        return self._from_embeddings(features, embeddings, bias)

    # Voxels and images per tile of the inference path. With one CPU thread the
    # tile's attention map (tile_voxels x tile_images x P floats) and MLP
    # activations stay in the cache; with several threads each operation must
    # also carry enough work to pay for the threads' synchronisation, which
    # costs most when other processes share the cores. On a GPU, large tiles
    # keep the kernels busy.
    CPU_TILE = (256, 8)
    CPU_TILE_THREADED = (1024, 16)
    GPU_TILE = (4096, 64)

    def _from_embeddings(self, features: torch.Tensor, embeddings: torch.Tensor,
                         bias: torch.Tensor | None) -> torch.Tensor:
        mean = self.attention.mode == "mean"
        if embeddings.ndim == 3:
            prediction = self._pooled(features, embeddings) if mean else self._per_image(features, embeddings)
        elif self._needs_autograd(features, embeddings) or self._dropout_active():
            prediction = self._pooled(features, embeddings) if mean else self._shared(features, embeddings)
        else:
            prediction = self._shared_tiled(features, embeddings)
        if bias is not None:
            prediction = prediction + bias
        return prediction

    def _dropout_active(self) -> bool:
        return self.training and self.mlps[0].dropout.p > 0

    def _needs_autograd(self, *inputs: torch.Tensor) -> bool:
        if not torch.is_grad_enabled():
            return False
        return any(t.requires_grad for t in inputs) or any(p.requires_grad for p in self.parameters())

    def _shared(self, features: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """Voxels (V, E) shared by the batch, differentiable."""
        content, position = self.attention.query_terms(embeddings)  # (V, L, C), (V, L, P)
        weights = self.readout.voxel_weights(embeddings)  # L x (V, C)
        layers = features.transpose(0, 1).contiguous()  # (L, B, P, C): one copy, then contiguous views
        prediction = None
        for layer, (x, weight, mlp) in enumerate(zip(layers, weights, self.mlps)):
            attended = self.attention.attend(x, content[:, layer], position[:, layer])  # (B, V, C)
            term = mlp.weighted_sum(attended, weight)
            prediction = term if prediction is None else prediction + term
        return prediction

    def _shared_tiled(self, features: torch.Tensor, embeddings: torch.Tensor | None = None,
                      voxel_idx: torch.Tensor | None = None, max_tile: int | None = None) -> torch.Tensor:
        """Voxels shared by the batch, no gradients, eval mode: cache-sized tiles.

        The voxels are given as embeddings (V, E) or as table indices (V,),
        looked up one tile at a time, so memory besides the (B, V) output does
        not depend on V. ``max_tile`` caps the voxels per tile.
        """
        if features.device.type != "cpu":
            tile_voxels, tile_images = self.GPU_TILE
        else:
            tile_voxels, tile_images = self.CPU_TILE if torch.get_num_threads() == 1 else self.CPU_TILE_THREADED
        tile_voxels = min(tile_voxels, max_tile or tile_voxels)
        n_voxels = embeddings.shape[0] if embeddings is not None else voxel_idx.shape[0]
        if self.attention.mode == "mean":  # one MLP pass per image, then a dot product per (image, voxel)
            hidden = self._pooled_hidden(features)  # (B, L·C)
            output = hidden.new_empty(features.shape[0], n_voxels)
            for v0 in range(0, n_voxels, tile_voxels):
                if embeddings is not None:
                    e = embeddings[v0:v0 + tile_voxels]
                else:
                    e = self.embeddings(voxel_idx[v0:v0 + tile_voxels])
                output[:, v0:v0 + e.shape[0]] = hidden @ self.readout.flat_weights(e).t()
            return output
        folded = self.attention.folded_queries()
        layers = features.transpose(0, 1).contiguous()  # (L, B, P, C)
        n_layers, batch, n_tokens, width = layers.shape
        output = None
        for v0 in range(0, n_voxels, tile_voxels):
            if embeddings is not None:
                e = embeddings[v0:v0 + tile_voxels]
            else:
                e = self.embeddings(voxel_idx[v0:v0 + tile_voxels])
            n = e.shape[0]
            content = torch.addmm(folded[1], e, folded[0]).view(n, n_layers, width)
            position = torch.addmm(folded[3], e, folded[2]).view(n, n_layers, n_tokens)
            weights = self.readout.voxel_weights(e)
            pushed = [mlp.push_weights(w) for w, mlp in zip(weights, self.mlps)]
            constant = torch.stack([c for _, c in pushed]).sum(0)  # (n,)
            for b0 in range(0, batch, tile_images):
                images = layers[:, b0:b0 + tile_images]
                nb = images.shape[1]
                total = constant.expand(nb, n).clone()
                for layer, (mlp, weight, (push, _)) in enumerate(zip(self.mlps, weights, pushed)):
                    x = images[layer]  # (nb, P, C), contiguous
                    logits = (content[:, layer] @ x.reshape(nb * n_tokens, width).t()).view(n, nb, n_tokens)
                    logits += position[:, layer].unsqueeze(1)
                    attended = torch.bmm(torch.softmax(logits, dim=-1).transpose(0, 1), x)  # (nb, n, C)
                    y = mlp.norm(attended)
                    hidden = mlp.fc1(y)
                    total += (y * weight).sum(-1)
                    total += _gelu_(hidden).mul_(push).sum(-1)
                if output is None:
                    output = total.new_empty(batch, n_voxels)
                output[b0:b0 + nb, v0:v0 + n] = total
        return output

    def _per_image(self, features: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """Voxels (B, V, E) of their own for every image, differentiable."""
        folded = self.attention.folded_queries()
        weights = self.readout.voxel_weights(embeddings)  # L x (B, V, C)
        prediction = None
        for layer, (weight, mlp) in enumerate(zip(weights, self.mlps)):
            keys, offsets = self.attention.image_keys(features, layer, folded)  # (B, E, P), (B, P)
            logits = torch.baddbmm(offsets.unsqueeze(1), embeddings, keys)  # (B, V, P)
            attended = torch.bmm(torch.softmax(logits, dim=-1), features[:, layer])  # (B, V, C)
            term = (mlp(attended) * weight).sum(-1)
            prediction = term if prediction is None else prediction + term
        return prediction

    def _pooled_hidden(self, features: torch.Tensor) -> torch.Tensor:
        """``attention="mean"``: the MLP outputs ``[h_1, ..., h_L]`` of every image, shape (B, L·C).

        Only valid while dropout is inactive (one pass serves every voxel).
        """
        pooled = self.attention(features)  # (B, L, C)
        return torch.cat([mlp(pooled[:, layer]) for layer, mlp in enumerate(self.mlps)], dim=-1)

    def _pooled(self, features: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """``attention="mean"``: voxels (V, E) shared by the batch or (B, V, E) per image, differentiable."""
        batch, n_voxels = features.shape[0], embeddings.shape[-2]
        if self._dropout_active():
            # Dropout draws a mask for every (image, voxel) pair, as in the literal head: one MLP pass per pair.
            pooled = self.attention(features)  # (B, L, C)
            weights = self.readout.voxel_weights(embeddings)  # L x (V, C), (B, V, C) or (1, C)
            prediction = None
            for layer, (weight, mlp) in enumerate(zip(weights, self.mlps)):
                y = mlp.dropout(mlp.norm(pooled[:, layer]).unsqueeze(1).expand(batch, n_voxels, -1))  # (B, V, C)
                term = ((y + mlp.fc2(mlp.act(mlp.fc1(y)))) * weight).sum(-1)
                prediction = term if prediction is None else prediction + term
            return prediction
        hidden = self._pooled_hidden(features)  # (B, L·C)
        weights = self.readout.flat_weights(embeddings)  # (V, L·C), (B, V, L·C) or (1, L·C)
        if weights.ndim == 3:
            return torch.bmm(weights, hidden.unsqueeze(-1)).squeeze(-1)
        prediction = hidden @ weights.t()  # (B, V), or (B, 1) with a shared readout
        return prediction if prediction.shape[1] == n_voxels else prediction.expand(batch, n_voxels).contiguous()

    @torch.no_grad()
    def predict(self, features: torch.Tensor, voxel_idx: torch.Tensor | None = None,
                chunk_size: int = 4096) -> torch.Tensor:
        """Predictions in eval mode, ``chunk_size`` voxels at a time.

        Peak memory besides the output does not grow with the number of
        voxels. Equal to :meth:`forward` in eval mode.

        Parameters
        ----------
        features : tensor of shape (B, L, P, C)
        voxel_idx : tensor of shape (V,) or (B, V), optional
            Default: every voxel of the table.
        chunk_size : int
            Voxels per chunk (at most; voxels shared by the batch are
            processed in tiles sized for the CPU cache).

        Returns
        -------
        prediction : tensor of shape (B, V)
        """
        check_count("chunk_size", chunk_size)
        if voxel_idx is None:
            voxel_idx = torch.arange(self.n_voxels, device=features.device)
        self.check_inputs(features, voxel_idx)
        was_training = self.training
        self.eval()
        try:
            n_voxels = voxel_idx.shape[-1]
            if voxel_idx.ndim == 1:  # shared by the batch: tiles sized for the cache, at most chunk_size voxels
                output = self._shared_tiled(features, voxel_idx=voxel_idx, max_tile=chunk_size)
                if self.embeddings.bias is not None:
                    output += self.embeddings.bias[voxel_idx]
                return output
            output = features.new_empty(features.shape[0], n_voxels)
            for start in range(0, n_voxels, chunk_size):
                chunk = voxel_idx[..., start:start + chunk_size]
                output[:, start:start + chunk.shape[-1]] = self._predict_unchecked(features, chunk)
        finally:
            self.train(was_training)
        return output
