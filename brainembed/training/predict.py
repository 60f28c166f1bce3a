"""Predicting responses of whole subjects with a trained encoder (no gradients, chunked)."""

from __future__ import annotations

import numpy as np
import torch

from brainembed.data import Crowd
from brainembed.errors import BrainembedError


def images_to_tensor(model, pixels: np.ndarray, device) -> torch.Tensor:
    """uint8 images (n, H, W, 3) -> normalised float tensor at the model's input size."""
    return model.preprocess(pixels).to(device)


@torch.no_grad()
def predict_subject(model, crowd: Crowd, subject, rows=None, *, device="cpu", image_batch: int = 32,
                    voxel_chunk: int = 4096, voxel_offset: int | None = None, bf16: bool = False,
                    cache=None) -> np.ndarray:
    """Predicted responses of every voxel of one subject to some of its images.

    Parameters
    ----------
    model : UniversalBrainEncoder
    crowd : Crowd
        Supplies the subject, its images and its global voxel slice.
    subject : str
        Subject key.
    rows : array of int, optional
        Response rows (images) to predict; default the subject's test rows.
    device : torch device
    image_batch : int
        Images per forward pass of the trunk.
    voxel_chunk : int
        Voxels per forward pass of the head (peak memory does not grow with
        the number of voxels).
    voxel_offset : int, optional
        First row of this subject in the model's embedding table. Default: the
        crowd's global index, which is only right when ``crowd`` holds exactly
        the subjects the model was trained on, in the same order; a crowd of
        another size is refused.
    bf16 : bool
        bfloat16 autocast (CUDA only).
    cache : FeatureCache, optional
        Precomputed frozen features of the images (skips the backbone).

    Returns
    -------
    array of shape (n_rows, n_voxels), float32
    """
    data = crowd.subject(subject)
    rows = data.rows("test") if rows is None else np.asarray(rows, dtype=np.int64)
    if voxel_offset is None:
        if crowd.n_voxels != model.n_voxels:
            raise BrainembedError(
                f"the crowd holds {crowd.n_voxels} voxels but the encoder's embedding table has {model.n_voxels}; "
                f"load the crowd with the run's subjects (RunConfig.subjects) or pass voxel_offset.")
        start = crowd.voxel_slice(subject).start
    else:
        start = int(voxel_offset)
    if start < 0 or start + data.n_voxels > model.n_voxels:
        raise BrainembedError(f"subject {subject}'s voxels {start}..{start + data.n_voxels} lie outside the "
                              f"encoder's embedding table of {model.n_voxels} rows.")
    voxel_index = torch.arange(start, start + data.n_voxels, device=device)
    was_training = model.training
    model.eval()
    out = np.empty((rows.size, data.n_voxels), dtype=np.float32)
    device = torch.device(device)
    use_bf16 = bf16 and device.type == "cuda"
    try:
        for lo in range(0, rows.size, image_batch):
            part = rows[lo:lo + image_batch]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                if cache is None:
                    images = images_to_tensor(model, crowd.images.get(data.image_ids[part]), device)
                    pred = model.predict(images, voxel_index, chunk_size=voxel_chunk)
                else:
                    features = cache.get(data.image_ids[part], device)
                    if cache.level == "backbone":
                        features = model.projection(features)
                    pred = model.head.predict(features, voxel_index, voxel_chunk)
            out[lo:lo + part.size] = pred.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def backbone_features(model, pixels: np.ndarray, *, grid: int = 4, device="cpu", image_batch: int = 32) -> np.ndarray:
    """Pooled backbone tokens of the encoder's layers, for ridge baselines.

    For each of the encoder's L backbone layers, the CLS token and the patch
    tokens average-pooled to a ``grid x grid`` map are concatenated.

    Parameters
    ----------
    model : UniversalBrainEncoder
    pixels : array of shape (n_images, H, W, 3), uint8
    grid : int
        Side of the pooled patch grid.
    device : torch device
    image_batch : int

    Returns
    -------
    array of shape (n_images, L * (grid**2 + has_cls) * D), float32
    """
    import torch.nn.functional as F

    device = torch.device(device)
    was_training = model.training
    model.eval()
    has_cls = bool(model.config.keep_cls)
    out = []
    try:
        for lo in range(0, len(pixels), image_batch):
            tokens = model.backbone(images_to_tensor(model, pixels[lo:lo + image_batch], device))  # (B, L, P, D)
            b, n_layers, n_tokens, dim = tokens.shape
            patches = tokens[:, :, int(has_cls):]
            side = int(round((n_tokens - int(has_cls)) ** 0.5))
            patches = patches.reshape(b * n_layers, side, side, dim).permute(0, 3, 1, 2)
            pooled = F.adaptive_avg_pool2d(patches, min(grid, side)).flatten(2).transpose(1, 2)
            pooled = pooled.reshape(b, n_layers, -1, dim)
            parts = [tokens[:, :, :1], pooled] if has_cls else [pooled]
            out.append(torch.cat(parts, dim=2).reshape(b, -1).float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out)
