"""What a ViT trunk sees: PCA of its patch tokens and its CLS attention, beside the images."""

from __future__ import annotations

import numpy as np

from brainembed.config import IMAGENET_MEAN, IMAGENET_STD
from brainembed.errors import BrainembedError


def _pca_rgb(patches: np.ndarray) -> np.ndarray:
    """(n, G*G, D) tokens → (n, G, G, 3) first 3 principal components scaled to [0, 1] jointly."""
    n, p, d = patches.shape
    flat = patches.reshape(-1, d).astype(np.float64)
    flat = flat - flat.mean(0)
    _, _, vt = np.linalg.svd(flat, full_matrices=False)
    comps = flat @ vt[:3].T
    lo, hi = np.percentile(comps, 1, axis=0), np.percentile(comps, 99, axis=0)
    comps = np.clip((comps - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    g = int(round(np.sqrt(p)))
    return comps.reshape(n, g, g, 3)


def trunk_maps(vit, images: np.ndarray, *, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, block: int | None = None):
    """Patch-token PCA colours and CLS attention of one block of a timm ViT.

    Parameters
    ----------
    vit : timm.models.VisionTransformer
        With a class token.
    images : array of shape (n_images, S, S, 3), uint8
        At the ViT's input size.
    image_mean, image_std : sequence of 3 floats
        Normalisation the ViT was trained with.
    block : int, optional
        1-based block index; default: the last block.

    Returns
    -------
    pca : array of shape (n_images, G, G, 3)
        First three principal components of the block's output patch tokens
        (fitted on all the given images together), as RGB in [0, 1].
    attention : array of shape (n_images, G, G)
        Attention of the CLS token to each patch inside the block, mean over heads.
    """
    import torch

    from brainembed.models.sim_trunk import normalise_images

    images = np.asarray(images)
    size = tuple(vit.patch_embed.img_size)
    if images.ndim != 4 or images.shape[-1] != 3 or tuple(images.shape[1:3]) != size:
        raise BrainembedError(f"images must have shape (n, {size[0]}, {size[1]}, 3), got {images.shape}.")
    if getattr(vit, "cls_token", None) is None:
        raise BrainembedError("trunk_maps needs a ViT with a class token.")
    depth = len(vit.blocks)
    block = depth if block is None else int(block)
    if not 1 <= block <= depth:
        raise BrainembedError(f"block must be a 1-based block index in 1..{depth}, got {block}.")
    n_prefix = vit.num_prefix_tokens
    was_training = vit.training
    vit.eval()
    with torch.no_grad():
        x = normalise_images(images, image_mean, image_std)
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
        for index, blk in enumerate(vit.blocks, start=1):
            if index == block:
                attn = blk.attn
                h = blk.norm1(x)
                b, t, d = h.shape
                qkv = attn.qkv(h).reshape(b, t, 3, attn.num_heads, d // attn.num_heads).permute(2, 0, 3, 1, 4)
                q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
                weights = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(-1)  # (B, heads, T, T)
                cls_attention = weights[:, :, 0, n_prefix:].mean(1)
                x = blk(x)
                break
            x = blk(x)
    vit.train(was_training)
    g = int(round(np.sqrt(cls_attention.shape[1])))
    return _pca_rgb(x[:, n_prefix:].numpy()), cls_attention.reshape(-1, g, g).numpy()


def plot_trunk_features(vit, images: np.ndarray, *, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
                        block: int | None = None, reference=None, reference_label: str = "random init",
                        fig=None):
    """Images beside the trunk's patch-token PCA and CLS attention maps.

    One row per image: the image, the first three principal components of the
    chosen block's patch tokens as RGB, the CLS token's attention over the
    patches, and (with ``reference``) the same two maps for a second ViT of the
    same architecture, e.g. the randomly initialised trunk.

    Parameters
    ----------
    vit : timm.models.VisionTransformer
    images : array of shape (n_images, S, S, 3), uint8
    image_mean, image_std : sequence of 3 floats
    block : int, optional
        1-based block index; default: the last block.
    reference : timm.models.VisionTransformer, optional
    reference_label : str
    fig : matplotlib Figure, optional

    Returns
    -------
    fig : matplotlib Figure
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    maps = [trunk_maps(vit, images, image_mean=image_mean, image_std=image_std, block=block)]
    titles = ["patch PCA", "CLS attention"]
    if reference is not None:
        maps.append(trunk_maps(reference, images, image_mean=image_mean, image_std=image_std, block=block))
        titles += [f"patch PCA\n({reference_label})", f"CLS attention\n({reference_label})"]
    n = len(images)
    n_cols = 1 + 2 * len(maps)
    if fig is None:
        fig = plt.figure(figsize=(1.6 * n_cols, 1.6 * n + 0.4))
    axes = fig.subplots(n, n_cols, squeeze=False)
    size = images.shape[1]
    for row in range(n):
        axes[row, 0].imshow(images[row])
        for m, (pca, attention) in enumerate(maps):
            axes[row, 1 + 2 * m].imshow(pca[row], interpolation="nearest")
            axes[row, 2 + 2 * m].imshow(images[row], extent=(0, size, size, 0))
            axes[row, 2 + 2 * m].imshow(attention[row], cmap="inferno", alpha=0.7, interpolation="bilinear",
                                        extent=(0, size, size, 0))
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    for col, title in enumerate(["image"] + titles):
        axes[0, col].set_title(title, fontsize="small")
    fig.tight_layout()
    return fig
