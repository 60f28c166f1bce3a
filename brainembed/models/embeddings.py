"""One table of voxel embeddings shared by every subject of every dataset."""

from __future__ import annotations

import torch
from torch import nn

from brainembed.errors import BrainembedError
from brainembed.validation import is_integer

__all__ = ["VoxelEmbeddingTable"]


class VoxelEmbeddingTable(nn.Module):
    """Learned embeddings of shape (N_total, E); subject s owns a contiguous slice.

    Parameters
    ----------
    n_voxels : int
        N_total, the number of voxels of all subjects together.
    embed_dim : int
        E, the width of one embedding.
    init_std : float
        Standard deviation of the normal initialisation (0.1 / (2·16) in the
        released code).
    bias : bool
        Also learn one additive response bias per voxel.

    Attributes
    ----------
    weight : Parameter of shape (N_total, E)
    bias : Parameter of shape (N_total,) or None
    """

    def __init__(self, n_voxels: int, embed_dim: int, init_std: float = 0.1 / 32, bias: bool = False) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.init_std = init_std
        self.weight = nn.Parameter(torch.empty(n_voxels, embed_dim))
        self.bias = nn.Parameter(torch.zeros(n_voxels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every embedding from N(0, init_std²); zero the biases."""
        nn.init.normal_(self.weight, std=self.init_std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def n_voxels(self) -> int:
        """N_total, the number of rows."""
        return self.weight.shape[0]

    def check_indices(self, voxel_idx: torch.Tensor, batch_size: int | None = None) -> None:
        """Raise :class:`BrainembedError` unless ``voxel_idx`` is a valid index tensor.

        Parameters
        ----------
        voxel_idx : tensor of shape (V,) or (B, V)
            Global voxel indices (integers in ``[0, N_total)``).
        batch_size : int, optional
            B; when given, a 2-D index tensor must have B rows.
        """
        if not isinstance(voxel_idx, torch.Tensor) or voxel_idx.dtype not in (torch.int64, torch.int32):
            kind = voxel_idx.dtype if isinstance(voxel_idx, torch.Tensor) else type(voxel_idx).__name__
            raise BrainembedError(f"voxel_idx must be an integer tensor (int64 or int32), got {kind}.")
        if voxel_idx.ndim not in (1, 2) or voxel_idx.shape[-1] == 0:
            raise BrainembedError(
                f"voxel_idx must have shape (V,) or (B, V) with V > 0, got {tuple(voxel_idx.shape)}."
            )
        if voxel_idx.ndim == 2 and batch_size is not None and voxel_idx.shape[0] != batch_size:
            raise BrainembedError(
                f"voxel_idx has {voxel_idx.shape[0]} rows but the batch holds {batch_size} images."
            )
        low, high = int(voxel_idx.min()), int(voxel_idx.max())
        if low < 0 or high >= self.n_voxels:
            raise BrainembedError(
                f"voxel_idx must lie in [0, {self.n_voxels}), got values from {low} to {high}."
            )

    def forward(self, voxel_idx: torch.Tensor) -> torch.Tensor:
        """Embeddings of shape voxel_idx.shape + (E,)."""
        return nn.functional.embedding(voxel_idx, self.weight)

    def append(self, n_new: int, generator: torch.Generator | None = None,
               values: torch.Tensor | None = None) -> slice:
        """Add ``n_new`` rows (a new subject) at the end.

        The parameters are replaced by larger ones: build optimizers after
        calling this.

        Parameters
        ----------
        n_new : int
            Number of new voxels.
        generator : torch.Generator, optional
            Random source for freshly initialised rows (on the table's device).
        values : tensor of shape (n_new, E), optional
            Embeddings to store instead of fresh ones (e.g. trained apart).

        Returns
        -------
        rows : slice
            The global indices of the new voxels.
        """
        if not is_integer(n_new) or n_new < 1:
            raise BrainembedError(f"n_new must be a positive number of voxels, got {n_new!r}.")
        start = self.n_voxels
        weight = self.weight.detach()
        if values is None:
            fresh = torch.empty(n_new, self.embed_dim, device=weight.device, dtype=weight.dtype)
            fresh.normal_(0.0, self.init_std, generator=generator)
        elif tuple(values.shape) != (n_new, self.embed_dim):
            raise BrainembedError(f"values must have shape ({n_new}, {self.embed_dim}), got {tuple(values.shape)}.")
        else:
            fresh = values.detach().to(device=weight.device, dtype=weight.dtype)
        self.weight = nn.Parameter(torch.cat([weight, fresh]), requires_grad=self.weight.requires_grad)
        if self.bias is not None:
            bias = self.bias.detach()
            self.bias = nn.Parameter(torch.cat([bias, bias.new_zeros(n_new)]), requires_grad=self.bias.requires_grad)
        return slice(start, start + n_new)

    def extra_repr(self) -> str:
        return f"{self.n_voxels}, {self.embed_dim}, bias={self.bias is not None}"
