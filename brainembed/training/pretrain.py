"""Pretraining of the stimulus-world trunk, the offline stand-in for DINOv2.

The paper's encoder reads a frozen, pretrained DINOv2. Nothing can be
downloaded here, so brainembed ships a small timm ViT with a convolutional
stem (:mod:`brainembed.models.sim_trunk`: 112 px input, stride 16, so 7 x 7
patch tokens + CLS, 6 blocks of width 192) pretrained on a stream of
freshly drawn procedural stimuli (:func:`~brainembed.simulate.stimuli.draw_stimuli`)
whose seeds never coincide with the simulated subjects' images.
:func:`pretrain_sim_trunk` reproduces the shipped file from a seed;
:func:`load_sim_trunk` loads it.

Objective
---------
Supervised multi-task learning on the labels the generator knows, chosen over
self-supervision (DINO, iBOT, masked modelling) because a CPU budget of an
hour is far too small for those to learn semantics, while labels give a
dense, exact signal from the first step. The targets are the kinds of
information a real DINOv2 carries and the simulated cortex reads:

- from the CLS token (final norm): main category (7-way cross-entropy);
  presence of each category anywhere in the image, secondary elements
  included (multi-label BCE); main item position x, y and size; hue as
  (sin, cos) (colour images only); background grating orientation as
  (sin 2θ, cos 2θ) and log spatial frequency (where a grating is visible);
  log contrast gain, mean luminance and RMS contrast (regressions, MSE on
  targets of about unit variance);
- from the patch tokens of the last block: dense *semantic segmentation*
  from the renderer's per-pixel label maps (``draw_stimuli(masks=True)``:
  background or the category of the element that painted each pixel): the
  share of each label in every patch, and on a 4 x 4 grid of sub-cells inside
  it (soft cross-entropy), so that patch tokens say *where* each category
  is and what shape it has — what category voxels with large receptive
  fields need, and what tells a drawn body from a drawn object;
- from the patch tokens of the first half of the blocks: per-patch low-level
  statistics, MaskFeat-style — mean colour, luminance RMS contrast and a
  smooth histogram of oriented gradients (log energy and its first two
  orientation harmonics, 2 scales), z-scored per batch (MSE), so early blocks
  keep nonlinear local orientation energy, what early visual voxels need.

Every head is linear, so what they read is linearly decodable from the
trunk, as the encoder's readout needs. Images get a random horizontal flip
(labels and label maps fixed accordingly) and a shift of up to ±4 px; 15 %
are grayscale (the "4T" dataset is). AdamW with linear warm-up and cosine
decay. The next chunk of images is drawn in a background thread while the
current one trains.

How far labels can go: a logistic regression on the *true* label shares of
a 4 x 4 grid of each image reaches 0.94 7-way category accuracy (0.84 on the
whole-image shares alone; 5-fold CV, 2 000 images), so a trunk whose tokens
carry the segmentation can carry the categories.

Cost
----
The shipped trunk is ``pretrain_sim_trunk(sim_trunk_path(), num_threads=2)``
with the defaults (seed 0, 76 800 images, 2 400 steps of 32): 36 minutes on 2
CPU cores. Its linear probes on 1 000 held-out images (5-fold CV, recorded in
the file's ``meta["probe"]``): 7-way category accuracy 0.789 (random-init
trunk 0.368), face vs body 0.956 (0.570), position R² 0.45, hue R² 0.37,
grating orientation R² 0.26. The previous trunk (a plain patch-14 ViT of 4
blocks trained on 115 200 images with per-patch coverage targets instead of
the label maps) reached 0.647, 0.868, 0.34, 0.43 and 0.37: the convolutional
stem and the segmentation targets buy the semantics at a small cost in hue
and orientation. DINOv2-grade category accuracy (0.90 and more) is not
reached at this budget.
The result does not depend on ``num_threads``.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainembed.config import IMAGENET_MEAN, IMAGENET_STD
from brainembed.errors import BrainembedError
from brainembed.models.sim_trunk import SIM_TRUNK_KWARGS, SIM_TRUNK_NAME, normalise_images, register_sim_trunk

__all__ = [
    "TRUNK_TIMM_NAME",
    "TRUNK_TIMM_KWARGS",
    "PretrainObjective",
    "build_trunk",
    "load_sim_trunk",
    "make_pretrain_batch",
    "pretrain_sim_trunk",
    "probe_trunk",
    "sim_trunk_path",
    "trunk_tokens",
]

TRUNK_TIMM_NAME = SIM_TRUNK_NAME
"""timm model whose architecture (overridden by :data:`TRUNK_TIMM_KWARGS`) the trunk uses."""

TRUNK_TIMM_KWARGS = SIM_TRUNK_KWARGS
"""``timm.create_model`` keyword arguments of the shipped trunk (``img_size`` apart)."""

OBJECTIVE = ("supervised multi-task on generator labels: category CE, category presence BCE, position/size, "
             "hue, grating orientation/frequency, contrast/luminance (CLS); per-patch and 4x4 sub-patch "
             "semantic segmentation from the renderer's label maps (last block); per-patch colour, contrast "
             "and oriented-gradient energy at 2 scales (first half of the blocks)")

_N_CATEGORIES = 7
_N_LOWLEVEL = 14  # 3 mean colour + 1 RMS contrast + 2 scales x (log energy + 4 orientation harmonics)
_MAX_SHIFT = 4
# Approximate mean and standard deviation of the scalar labels (measured on 3000 images).
_POSITION_MEAN, _POSITION_STD = np.array([0.0, 0.0, 0.27]), np.array([0.25, 0.25, 0.14])
_LOGFREQ_MEAN, _LOGFREQ_STD = 1.78, 0.80
_SCALAR_MEAN, _SCALAR_STD = np.array([-0.31, 0.45, 0.10]), np.array([0.28, 0.17, 0.058])
_STREAM_OFFSET = 1_000_000  # training chunk k draws from SeedSequence([seed, 1_000_000 + k, ...])
_PROBE_STREAM = 2_000_000  # held-out probe images draw from SeedSequence([seed, 2_000_000])


# --------------------------------------------------------------------------- #
# The trunk
# --------------------------------------------------------------------------- #
def sim_trunk_path() -> Path:
    """Path of the stimulus-world trunk shipped inside the package (it may not exist yet)."""
    from brainembed.models.backbone import packaged_weights_file

    return packaged_weights_file("sim_trunk")


def build_trunk(image_size: int = 112, timm_name: str = TRUNK_TIMM_NAME, **timm_kwargs) -> nn.Module:
    """A randomly initialised timm ViT of the trunk's architecture, without classifier head.

    Parameters
    ----------
    image_size : int
        Input side in pixels; a multiple of the patch size.
    timm_name : str
        timm model name.
    **timm_kwargs
        Override :data:`TRUNK_TIMM_KWARGS` entries (e.g. ``depth=1`` for tests).

    Returns
    -------
    vit : timm.models.VisionTransformer
    """
    import timm

    register_sim_trunk()
    kwargs = {**TRUNK_TIMM_KWARGS, **timm_kwargs} if timm_name == TRUNK_TIMM_NAME else dict(timm_kwargs)
    patch = int(kwargs.get("patch_size", 16))
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < patch \
            or image_size % patch:
        raise BrainembedError(f"image_size must be a positive multiple of the patch size {patch}, "
                              f"got {image_size!r}.")
    return timm.create_model(timm_name, pretrained=False, img_size=image_size, num_classes=0, **kwargs)


def load_sim_trunk(path=None):
    """Load the pretrained stimulus-world trunk.

    Parameters
    ----------
    path : path, optional
        A file written by :func:`pretrain_sim_trunk`; default: the one shipped
        in the package (:func:`sim_trunk_path`).

    Returns
    -------
    vit : timm.models.VisionTransformer
        In eval mode, float32, classifier head removed.
    meta : dict
        ``timm_name``, ``timm_kwargs``, ``img_size``, ``image_mean``,
        ``image_std``, ``seed``, ``n_images_seen``, ``objective``, ``probe``,
        ``brainembed_version`` and the training settings.
    """
    from brainembed.training.checkpoint import load_checkpoint

    path = sim_trunk_path() if path is None else Path(path)
    if not path.is_file():
        raise BrainembedError(f"No stimulus-world trunk at {str(path)!r}; run `brainembed pretrain` "
                              f"(about 30 CPU minutes) to build it.")
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict) \
            or not isinstance(state.get("meta"), dict):
        raise BrainembedError(f"{str(path)!r} is not a trunk file written by pretrain_sim_trunk "
                              "(needs 'state_dict' and 'meta').")
    meta = state["meta"]
    try:
        vit = build_trunk(int(meta["img_size"]), meta["timm_name"], **dict(meta["timm_kwargs"]))
        vit.load_state_dict({k: v.float() for k, v in state["state_dict"].items()}, strict=True)
    except (KeyError, RuntimeError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BrainembedError(f"Trunk file {str(path)!r} does not describe a loadable ViT "
                              f"({first_line[:160]}).") from None
    return vit.eval(), meta


def trunk_tokens(vit: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Tokens after every block of a timm ViT (before the final norm).

    Parameters
    ----------
    vit : timm.models.VisionTransformer
    images : tensor of shape (B, 3, H, W), normalised

    Returns
    -------
    tokens : list of depth tensors of shape (B, P, D)
        Prefix (CLS) tokens first, then the patch tokens in row-major order.
    """
    x = vit.patch_embed(images)
    x = vit._pos_embed(x)
    x = vit.patch_drop(x)
    x = vit.norm_pre(x)
    out = []
    for block in vit.blocks:
        x = block(x)
        out.append(x)
    return out


# --------------------------------------------------------------------------- #
# Targets
# --------------------------------------------------------------------------- #
def _subcells(patch_size: int) -> int:
    """Sub-cells per patch side of the fine segmentation target (4, else 2, else 1)."""
    return next(k for k in (4, 2, 1) if patch_size % k == 0)


def _label_fractions(masks: np.ndarray, cell: int) -> np.ndarray:
    """Share of each label (0 background, 1..7 categories) in every ``cell`` x ``cell`` block.

    Parameters
    ----------
    masks : ndarray of shape (n, S, S), uint8
    cell : int
        Block side in pixels; divides S.

    Returns
    -------
    fractions : ndarray of shape (n, S // cell, S // cell, 8), float32
    """
    n, size = masks.shape[0], masks.shape[1]
    g = size // cell
    blocks = masks.reshape(n, g, cell, g, cell)
    # one label at a time: a float one-hot of a whole chunk (n x S x S x 8) would take hundreds of MB
    return np.stack([(blocks == label).mean(axis=(2, 4), dtype=np.float32)
                     for label in range(_N_CATEGORIES + 1)], axis=-1)


def make_pretrain_batch(stimuli, *, patch_size: int = 14, random_state=None, augment: bool = True) -> dict:
    """Images and multi-task targets of a stimulus set, optionally augmented.

    Parameters
    ----------
    stimuli : StimulusSet
        From :func:`~brainembed.simulate.stimuli.draw_stimuli`; ``image_size``
        a multiple of ``patch_size``.
    patch_size : int
        The trunk's patch size (sets the grid of the coverage targets).
    random_state : int, Generator or None
        Seed of the augmentation.
    augment : bool
        Random horizontal flip (x, orientation and elements mirrored) and
        integer shift of up to ±4 px (edge pixels repeated).

    Returns
    -------
    batch : dict of tensors
        ``images`` uint8 (n, S, S, 3); ``category`` int64 (n,); ``presence``
        (n, 7); ``position`` (n, 3) standardised x, y, size; ``hue`` (n, 2) and
        ``hue_mask`` (n,); ``texture`` (n, 3) sin 2θ, cos 2θ, standardised log
        frequency and ``texture_mask`` (n,); ``scalars`` (n, 3) standardised
        log contrast, mean luminance, RMS contrast; ``coverage`` (n, G*G, 8)
        share of each patch's pixels that are background (0) or each category
        (1..7), from the label maps; ``segmentation`` (n, G*G, K*K, 8) the
        same shares on a K x K grid of sub-cells inside each patch (K = 4
        when the patch size allows); ``lowlevel``
        (n, G*G, 14) per-patch colour, contrast and oriented-gradient energy
        (see :func:`_lowlevel_targets`), z-scored over the set.
    """
    from brainembed.simulate.stimuli import CATEGORIES

    images = np.asarray(stimuli.images)
    n, size = images.shape[0], images.shape[1]
    if size % patch_size:
        raise BrainembedError(f"image size {size} is not a multiple of patch_size {patch_size}.")
    if stimuli.masks is None:
        raise BrainembedError("the stimuli have no label maps; draw them with draw_stimuli(..., masks=True).")
    masks = np.asarray(stimuli.masks)
    labels = stimuli.labels
    objects = stimuli.objects
    rng = np.random.default_rng(random_state)
    x = labels["x"].to_numpy(np.float64).copy()
    y = labels["y"].to_numpy(np.float64).copy()
    theta = labels["texture_orientation"].to_numpy(np.float64).copy()
    if augment and n:
        flip = rng.random(n) < 0.5
        shift = rng.integers(-_MAX_SHIFT, _MAX_SHIFT + 1, size=(n, 2))  # (dx, dy) pixels
        images, masks = images.copy(), masks.copy()
        for i in range(n):
            images[i] = _flip_and_shift(images[i], flip[i], shift[i])
            masks[i] = _flip_and_shift(masks[i], flip[i], shift[i])
        sx, sy = 2.0 * shift[:, 0] / size, 2.0 * shift[:, 1] / size
        x = np.where(flip, -x, x) + sx
        y = y + sy
        theta = np.where(flip, (np.pi - theta) % np.pi, theta)

    category = labels["category"].map({c: i for i, c in enumerate(CATEGORIES)}).to_numpy(np.int64)
    presence = np.zeros((n, _N_CATEGORIES), np.float32)
    codes = objects["category"].map({c: i for i, c in enumerate(CATEGORIES)}).to_numpy()
    presence[objects["image"].to_numpy(), codes] = 1.0
    position = (np.stack([x, y, labels["size"].to_numpy(np.float64)], 1) - _POSITION_MEAN) / _POSITION_STD
    hue = 2 * np.pi * labels["hue"].to_numpy(np.float64)
    hue_mask = ~labels["grayscale"].to_numpy(bool)
    texture_mask = labels["texture_contrast"].to_numpy(np.float64) > 0
    logfreq = (np.log(np.maximum(labels["texture_frequency"].to_numpy(np.float64), 1e-3)) - _LOGFREQ_MEAN) \
        / _LOGFREQ_STD
    texture = np.stack([np.sin(2 * theta), np.cos(2 * theta), logfreq], 1)
    scalars = np.stack([np.log(labels["contrast"].to_numpy(np.float64)),
                        labels["mean_luminance"].to_numpy(np.float64),
                        labels["rms_contrast"].to_numpy(np.float64)], 1)
    scalars = (scalars - _SCALAR_MEAN) / _SCALAR_STD
    grid, sub = size // patch_size, _subcells(patch_size)
    fine = _label_fractions(masks, patch_size // sub).reshape(n, grid, sub, grid, sub, _N_CATEGORIES + 1)
    fine = fine.transpose(0, 1, 3, 2, 4, 5).reshape(n, grid * grid, sub * sub, _N_CATEGORIES + 1)
    coverage = fine.mean(axis=2)  # a patch's shares are the mean of its equal-sized sub-cells' shares

    images = torch.as_tensor(np.ascontiguousarray(images))
    with torch.no_grad():
        lowlevel = torch.cat([_lowlevel_targets(images[i:i + 256], patch_size) for i in range(0, n, 256)]) \
            if n else torch.zeros(0, (size // patch_size) ** 2, _N_LOWLEVEL)
    flat = lowlevel.reshape(-1, _N_LOWLEVEL)
    if len(flat) > 1:
        lowlevel = (lowlevel - flat.mean(0)) / (flat.std(0) + 1e-6)

    def t(a, dtype=torch.float32):
        return torch.tensor(np.asarray(a), dtype=dtype)

    return {
        "images": images, "lowlevel": lowlevel,
        "category": t(category, torch.int64), "presence": t(presence), "position": t(position),
        "hue": t(np.stack([np.sin(hue), np.cos(hue)], 1)), "hue_mask": t(hue_mask, torch.bool),
        "texture": t(texture), "texture_mask": t(texture_mask, torch.bool), "scalars": t(scalars),
        "coverage": t(coverage), "segmentation": t(fine),
    }


def _flip_and_shift(image: np.ndarray, flip: bool, shift) -> np.ndarray:
    """Mirror an (S, S[, C]) array left-right and shift it by (dx, dy) pixels, edge pixels repeated."""
    img = image[:, ::-1] if flip else image
    dx, dy = int(shift[0]), int(shift[1])
    if dx or dy:
        pad = ((_MAX_SHIFT, _MAX_SHIFT), (_MAX_SHIFT, _MAX_SHIFT)) + ((0, 0),) * (img.ndim - 2)
        size = img.shape[0]
        img = np.pad(img, pad, mode="edge")[_MAX_SHIFT - dy:_MAX_SHIFT - dy + size,
                                            _MAX_SHIFT - dx:_MAX_SHIFT - dx + size]
    return img


def _lowlevel_targets(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Per-patch colour, RMS contrast and oriented-gradient energy at 2 scales.

    The orientation histogram of each patch (gradient magnitude by
    orientation, a smooth HOG) is summarised by its first two circular
    harmonics: log energy, and the magnitude-weighted means of cos 2φ, sin 2φ,
    cos 4φ and sin 4φ (φ the gradient orientation), at full resolution and on
    a blurred image with dilated gradients.

    Parameters
    ----------
    images : tensor of shape (B, S, S, 3), uint8

    Returns
    -------
    targets : tensor of shape (B, G*G, 14)
    """
    rgb = images.permute(0, 3, 1, 2).float() / 255.0
    lum = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    feats = [F.avg_pool2d(rgb, patch_size)]
    mean_l = F.avg_pool2d(lum, patch_size)
    feats.append((F.avg_pool2d(lum * lum, patch_size) - mean_l ** 2).clamp_min(0).sqrt())
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
    kernels = torch.stack([sobel, sobel.t()]).unsqueeze(1)
    blur = torch.tensor([1.0, 2.0, 1.0]) / 4.0
    blur = (blur[:, None] * blur[None, :]).view(1, 1, 3, 3)
    coarse = F.conv2d(F.conv2d(F.pad(lum, (2, 2, 2, 2), mode="replicate"), blur), blur)
    for source, dilation in ((lum, 1), (coarse, 2)):
        g = F.conv2d(F.pad(source, (dilation,) * 4, mode="replicate"), kernels, dilation=dilation)
        gx, gy = g[:, 0:1], g[:, 1:2]
        m2 = gx * gx + gy * gy + 1e-12
        mag = m2.sqrt()
        cos2, sin2 = (gx * gx - gy * gy) / m2, 2.0 * gx * gy / m2
        harmonics = torch.cat([cos2, sin2, cos2 * cos2 - sin2 * sin2, 2.0 * sin2 * cos2], 1) * mag
        energy = F.avg_pool2d(mag, patch_size)
        feats.append(torch.log1p(20.0 * energy))
        feats.append(F.avg_pool2d(harmonics, patch_size) / (energy + 1e-3))
    return torch.cat(feats, 1).flatten(2).transpose(1, 2)  # (B, G*G, 14)


# --------------------------------------------------------------------------- #
# Objective
# --------------------------------------------------------------------------- #
_GLOBAL_SLICES = {"category": slice(0, 7), "presence": slice(7, 14), "position": slice(14, 17),
                  "hue": slice(17, 19), "texture": slice(19, 22), "scalars": slice(22, 25)}


class PretrainObjective(nn.Module):
    """Linear task heads on a timm ViT and the multi-task loss (see module doc).

    Parameters
    ----------
    embed_dim : int
        D, the ViT's token width.
    depth : int
        Number of ViT blocks; the low-level heads read blocks 1..ceil(depth/2).
    patch_size : int
    image_mean, image_std : sequence of 3 floats
        Normalisation of the images fed to the ViT.
    """

    def __init__(self, embed_dim: int, depth: int, patch_size: int = 14, image_mean=IMAGENET_MEAN,
                 image_std=IMAGENET_STD) -> None:
        super().__init__()
        self.patch_size = int(patch_size)
        self.image_mean = tuple(float(v) for v in image_mean)
        self.image_std = tuple(float(v) for v in image_std)
        self.lowlevel_blocks = tuple(range(math.ceil(depth / 2)))  # 0-based
        self.global_head = nn.Linear(embed_dim, 25)
        self.subcells = _subcells(self.patch_size)
        self.coverage_head = nn.Linear(embed_dim, _N_CATEGORIES + 1)
        self.segmentation_head = nn.Linear(embed_dim, self.subcells ** 2 * (_N_CATEGORIES + 1))
        self.lowlevel_heads = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, _N_LOWLEVEL)) for _ in self.lowlevel_blocks
        )

    def forward(self, vit: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        """Total loss and its parts (floats) for one batch from :func:`make_pretrain_batch`."""
        images = normalise_images(batch["images"], self.image_mean, self.image_std)
        tokens = trunk_tokens(vit, images)
        n_prefix = vit.num_prefix_tokens
        final = vit.norm(tokens[-1])
        out = self.global_head(final[:, 0])
        parts = {}
        parts["category"] = F.cross_entropy(out[:, _GLOBAL_SLICES["category"]], batch["category"])
        parts["presence"] = F.binary_cross_entropy_with_logits(out[:, _GLOBAL_SLICES["presence"]],
                                                               batch["presence"])
        parts["position"] = F.mse_loss(out[:, _GLOBAL_SLICES["position"]], batch["position"])
        parts["hue"] = _masked_mse(out[:, _GLOBAL_SLICES["hue"]], batch["hue"], batch["hue_mask"])
        parts["texture"] = _masked_mse(out[:, _GLOBAL_SLICES["texture"]], batch["texture"],
                                       batch["texture_mask"])
        parts["scalars"] = F.mse_loss(out[:, _GLOBAL_SLICES["scalars"]], batch["scalars"])
        patches = final[:, n_prefix:]
        parts["coverage"] = _soft_cross_entropy(self.coverage_head(patches), batch["coverage"])
        fine = self.segmentation_head(patches).unflatten(-1, (self.subcells ** 2, _N_CATEGORIES + 1))
        parts["segmentation"] = _soft_cross_entropy(fine, batch["segmentation"])
        parts["lowlevel"] = sum(F.mse_loss(head(tokens[b][:, n_prefix:]), batch["lowlevel"])
                                for b, head in zip(self.lowlevel_blocks, self.lowlevel_heads)) \
            / len(self.lowlevel_blocks)
        loss = sum(parts.values())
        logs = {k: float(v.detach()) for k, v in parts.items()}
        logs["category_accuracy"] = float((out[:, :7].argmax(1) == batch["category"]).float().mean())
        return loss, logs


def _soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against label shares (last axis), minus the targets' own entropy (0 when exact)."""
    log_p = F.log_softmax(logits, dim=-1)
    entropy = torch.special.xlogy(target, target)
    return (entropy - target * log_p).sum(-1).mean()


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return F.mse_loss(pred[mask], target[mask])


# --------------------------------------------------------------------------- #
# Stream of training images
# --------------------------------------------------------------------------- #
def _draw_chunk(seed: int, chunk: int, n: int, image_size: int, patch_size: int,
                grayscale_fraction: float, passes: int = 1) -> dict:
    """Chunk ``chunk`` of the training stream: fresh images, augmented, with targets, shuffled.

    With ``passes`` > 1 every image appears ``passes`` times, each time with
    its own flip and shift, and the ``n * passes`` examples are shuffled
    together ("data echoing" after augmentation, Choi et al. 2019): drawing an
    image costs more than a training step on it, so echoing buys steps at the
    price of fewer distinct images. ``passes=1`` gives the chunk of earlier
    releases exactly.
    """
    from brainembed.simulate.stimuli import StimulusSet, draw_stimuli

    n_gray = int(round(n * grayscale_fraction))
    parts = [draw_stimuli(n - n_gray, image_size=image_size, masks=True,
                          random_state=np.random.default_rng([seed, _STREAM_OFFSET + chunk, 0]))]
    if n_gray:
        parts.append(draw_stimuli(n_gray, image_size=image_size, grayscale=True, masks=True,
                                  random_state=np.random.default_rng([seed, _STREAM_OFFSET + chunk, 1])))
    stimuli = StimulusSet.concatenate(parts)
    rng = np.random.default_rng([seed, _STREAM_OFFSET + chunk, 2])
    stimuli = stimuli.subset(rng.permutation(len(stimuli)))
    batch = make_pretrain_batch(stimuli, patch_size=patch_size, random_state=rng)
    if passes == 1:
        return batch
    echoes = [batch] + [make_pretrain_batch(stimuli, patch_size=patch_size,
                                            random_state=np.random.default_rng([seed, _STREAM_OFFSET + chunk, 2, p]))
                        for p in range(1, passes)]
    order = torch.as_tensor(np.random.default_rng([seed, _STREAM_OFFSET + chunk, 3]).permutation(n * passes))
    return {k: torch.cat([e[k] for e in echoes])[order] for k in batch}


class _ChunkStream:
    """Draws chunk k+1 in a background thread while chunk k trains."""

    def __init__(self, n_chunks, make_chunk):
        self._queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(n_chunks, make_chunk), daemon=True)
        self._thread.start()

    def _run(self, n_chunks, make_chunk):
        for k in range(n_chunks):
            try:
                item = make_chunk(k)
            except BaseException as error:  # hand the error to the consumer
                item = error
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or isinstance(item, BaseException):
                return

    def get(self):
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self._stop.set()
        self._thread.join(timeout=30)


# --------------------------------------------------------------------------- #
# Linear probes
# --------------------------------------------------------------------------- #
@torch.no_grad()
def _probe_features(vit: nn.Module, images: np.ndarray, image_mean, image_std, batch_size: int = 128):
    """Last-block features (before the final norm) for the probes.

    Returns ``global`` (n, 2D): CLS + mean patch token, ``spatial``
    (n, 16 D): the patch tokens averaged on a 4 x 4 grid (where things are),
    and ``patches`` (n, G*G, D): every patch token.
    """
    vit.eval()
    pooled, spatial, tokens = [], [], []
    for start in range(0, len(images), batch_size):
        x = normalise_images(images[start:start + batch_size], image_mean, image_std)
        last = trunk_tokens(vit, x)[-1]
        patches = last[:, vit.num_prefix_tokens:]
        pooled.append(torch.cat([last[:, 0], patches.mean(1)], 1))
        g = int(round(math.sqrt(patches.shape[1])))
        grid = patches.transpose(1, 2).reshape(len(x), -1, g, g)
        spatial.append(F.adaptive_avg_pool2d(grid, min(4, g)).flatten(1))
        tokens.append(patches)
    return (torch.cat(pooled).numpy().astype(np.float64), torch.cat(spatial).numpy().astype(np.float64),
            torch.cat(tokens).numpy())


_PROBE_TARGETS = ("category", "face_body", "position", "hue", "orientation", "coverage")


def probe_trunk(vit: nn.Module, *, stimuli=None, n_images: int = 1000, image_size: int | None = None,
                random_state=0, cv: int = 5, targets=_PROBE_TARGETS, image_mean=IMAGENET_MEAN,
                image_std=IMAGENET_STD) -> dict:
    """Cross-validated linear probes of a trunk's last-block features.

    Features: the CLS token and the mean patch token after the last block
    (before the final norm, as the encoder reads them) for category (logistic
    regression, accuracy), hue (sin, cos; colour images) and grating
    orientation (sin 2θ, cos 2θ; images with a visible grating); the patch
    tokens averaged on a 4 x 4 grid for the main item's position (x, y); each
    patch token for the share of its patch's pixels that are background or
    each category (``coverage``, from the renderer's label maps; the folds
    split images, not patches). Regressions are ridge (alpha by inner CV),
    scored by R² averaged over the outputs.

    Parameters
    ----------
    vit : timm.models.VisionTransformer
    stimuli : StimulusSet, optional
        Images to probe on; default: ``n_images`` fresh ones drawn from
        ``random_state``.
    n_images : int
    image_size : int, optional
        Default: the ViT's input size.
    random_state : int, Generator or sequence of int
    cv : int
        Number of cross-validation folds.
    targets : sequence of str
        Any of ``"category"``, ``"face_body"``, ``"position"``, ``"hue"``,
        ``"orientation"``, ``"coverage"`` (needs stimuli drawn with
        ``masks=True``; skipped, NaN, for stimuli without label maps).

    Returns
    -------
    scores : dict
        ``category_accuracy``, ``face_body_accuracy``, ``position_r2``,
        ``hue_r2``, ``orientation_r2``, ``coverage_r2`` (those asked for) and
        ``n_images``.
    """
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from brainembed.simulate.stimuli import draw_stimuli

    unknown = set(targets) - set(_PROBE_TARGETS)
    if unknown:
        raise BrainembedError(f"unknown probe targets {sorted(unknown)}; use {', '.join(_PROBE_TARGETS)}.")
    if stimuli is None:
        size = int(vit.patch_embed.img_size[0]) if image_size is None else int(image_size)
        stimuli = draw_stimuli(n_images, image_size=size, random_state=np.random.default_rng(random_state),
                               masks="coverage" in targets)
    X, spatial, patches = _probe_features(vit, stimuli.images, image_mean, image_std)
    labels = stimuli.labels
    folds = KFold(cv, shuffle=True, random_state=0)

    def r2(features, target):
        if len(target) < 2 * cv:
            return float("nan")
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
        pred = cross_val_predict(model, features, target, cv=folds)
        ss_res = ((target - pred) ** 2).sum(0)
        ss_tot = ((target - target.mean(0)) ** 2).sum(0)
        return float(np.mean(1.0 - ss_res / ss_tot))

    hue = 2 * np.pi * labels["hue"].to_numpy()
    colour = ~labels["grayscale"].to_numpy(bool)
    theta = labels["texture_orientation"].to_numpy()
    grating = labels["texture_contrast"].to_numpy() > 0
    scores = {}
    with threadpool_limits(1):  # multi-threaded BLAS is many times slower here on a busy machine
        if "category" in targets:
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
            predicted = cross_val_predict(classifier, X, labels["category"].to_numpy(), cv=folds)
            scores["category_accuracy"] = float(np.mean(predicted == labels["category"].to_numpy()))
        if "face_body" in targets:
            pair = labels["category"].isin(["face", "body"]).to_numpy()
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
            predicted = cross_val_predict(classifier, X[pair], labels["category"].to_numpy()[pair], cv=folds)
            scores["face_body_accuracy"] = float(np.mean(predicted == labels["category"].to_numpy()[pair]))
        if "position" in targets:
            scores["position_r2"] = r2(spatial, labels[["x", "y"]].to_numpy())
        if "hue" in targets:
            scores["hue_r2"] = r2(X[colour], np.stack([np.sin(hue), np.cos(hue)], 1)[colour])
        if "orientation" in targets:
            scores["orientation_r2"] = r2(X[grating], np.stack([np.sin(2 * theta), np.cos(2 * theta)], 1)[grating])
        if "coverage" in targets:
            scores["coverage_r2"] = _coverage_r2(patches, stimuli.masks, folds)
    scores["n_images"] = int(len(stimuli))
    return scores


def _coverage_r2(patches: np.ndarray, masks, folds) -> float:
    """R² of ridge from each patch token to its patch's label shares, images split by the folds."""
    from sklearn.linear_model import Ridge

    if masks is None:
        return float("nan")
    n, n_patches, _ = patches.shape
    cell = masks.shape[1] // int(round(math.sqrt(n_patches)))
    target = _label_fractions(np.asarray(masks), cell).reshape(n, n_patches, -1).astype(np.float64)
    pred = np.zeros_like(target)
    for train, test in folds.split(np.arange(n)):
        x_train = patches[train].reshape(-1, patches.shape[-1]).astype(np.float64)
        mean, scale = x_train.mean(0), x_train.std(0) + 1e-6
        model = Ridge(alpha=10.0).fit((x_train - mean) / scale, target[train].reshape(-1, target.shape[-1]))
        x_test = (patches[test].reshape(-1, patches.shape[-1]) - mean) / scale
        pred[test] = model.predict(x_test).reshape(len(test), n_patches, -1)
    flat_target, flat_pred = target.reshape(-1, target.shape[-1]), pred.reshape(-1, target.shape[-1])
    ss_res = ((flat_target - flat_pred) ** 2).sum(0)
    ss_tot = ((flat_target - flat_target.mean(0)) ** 2).sum(0)
    return float(np.mean(1.0 - ss_res / np.maximum(ss_tot, 1e-12)))


# --------------------------------------------------------------------------- #
# The pretraining run
# --------------------------------------------------------------------------- #
def pretrain_sim_trunk(out, *, n_images: int = 76_800, image_size: int = 112, seed: int = 0,
                       batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 0.05,
                       warmup_fraction: float = 0.05, chunk_size: int = 1024, grayscale_fraction: float = 0.15,
                       passes: int = 1, probe_images: int = 1000, num_threads: int | None = None, progress: bool = True,
                       **timm_kwargs) -> dict:
    """Pretrain the stimulus-world trunk from a seed and write it to ``out``.

    Parameters
    ----------
    out : path
        Output file (``.pt``), written atomically with
        :func:`~brainembed.training.checkpoint.save_checkpoint`; the shipped
        file is :func:`sim_trunk_path`.
    n_images : int
        Training images drawn (each seen once), rounded up to whole batches.
    image_size : int
        Input side in pixels; a multiple of the patch size.
    seed : int
        Seeds the ViT's initialisation, the image stream
        (``SeedSequence([seed, 1_000_000 + chunk, ...])``, disjoint from the
        simulator's integer seeds) and the augmentation.
    batch_size : int
    lr, weight_decay : float
        AdamW peak learning rate and weight decay.
    warmup_fraction : float
        Share of the steps with linear warm-up; cosine decay to zero after.
    chunk_size : int
        Images drawn at once (the next chunk is drawn in a background thread).
    grayscale_fraction : float
        Share of grayscale images in each chunk.
    passes : int
        Times each drawn image is trained on, each time differently flipped
        and shifted, shuffled within its chunk (data echoing): the run takes
        ``passes * n_images / batch_size`` steps. Drawing an image costs more
        than a training step on 2 CPU cores, so more passes buy steps cheaply.
    probe_images : int
        Held-out images for the linear probes of the pretrained and of a
        randomly initialised trunk (0 skips the probes).
    num_threads : int, optional
        ``torch.set_num_threads`` for the run (restored afterwards).
    progress : bool
        Progress bar with loss and images/s.
    **timm_kwargs
        Override :data:`TRUNK_TIMM_KWARGS` (``depth``, ``embed_dim``, ...).

    Returns
    -------
    summary : dict
        ``path``, ``n_images_seen``, ``steps``, ``wall_time_s``,
        ``images_per_s``, ``final_losses`` (means over the last 10 % of
        steps), ``history`` (per-step losses, every 10 steps) and ``probe``.
    """
    import brainembed
    from brainembed.training.checkpoint import save_checkpoint

    for name, value, minimum in (("n_images", n_images, 1), ("batch_size", batch_size, 1),
                                 ("chunk_size", chunk_size, 1), ("probe_images", probe_images, 0),
                                 ("passes", passes, 1),
                                 ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BrainembedError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if not 0.0 <= float(grayscale_fraction) <= 1.0:
        raise BrainembedError(f"grayscale_fraction must lie in [0, 1], got {grayscale_fraction!r}.")
    if not 0.0 <= float(warmup_fraction) < 1.0:
        raise BrainembedError(f"warmup_fraction must lie in [0, 1), got {warmup_fraction!r}.")
    if not float(lr) > 0:
        raise BrainembedError(f"lr must be > 0, got {lr!r}.")
    out = Path(out)
    kwargs = {**TRUNK_TIMM_KWARGS, **timm_kwargs}
    patch_size = int(kwargs["patch_size"])
    images_drawn = math.ceil(n_images / batch_size) * batch_size
    steps = images_drawn * passes // batch_size
    chunk_size = max(batch_size, min(chunk_size, images_drawn) // batch_size * batch_size)
    steps_per_chunk = chunk_size * passes // batch_size
    n_chunks = math.ceil(steps / steps_per_chunk)
    warmup = max(1, int(round(warmup_fraction * steps)))

    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    stream = None
    bar = None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            vit = build_trunk(image_size, **kwargs)
            objective = PretrainObjective(vit.embed_dim, len(vit.blocks), patch_size)
        vit.train()
        params = list(vit.parameters()) + list(objective.parameters())
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.999))

        def lr_at(step):
            if step < warmup:
                return lr * (step + 1) / warmup
            t = (step - warmup) / max(1, steps - warmup)
            return lr * 0.5 * (1.0 + math.cos(math.pi * t))

        stream = _ChunkStream(n_chunks, lambda k: _draw_chunk(seed, k, chunk_size, image_size, patch_size,
                                                              float(grayscale_fraction), passes))
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps * batch_size, desc="pretraining trunk", unit="img", dynamic_ncols=True)
        history, recent = [], []
        start = time.perf_counter()
        step = 0
        for _ in range(n_chunks):
            chunk = stream.get()
            for j in range(steps_per_chunk):
                if step >= steps:
                    break
                batch = {k: v[j * batch_size:(j + 1) * batch_size] for k, v in chunk.items()}
                for group in optimiser.param_groups:
                    group["lr"] = lr_at(step)
                loss, logs = objective(vit, batch)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimiser.step()
                logs["loss"] = float(loss.detach())
                if not math.isfinite(logs["loss"]):
                    raise BrainembedError(f"pretraining diverged at step {step} (loss {logs['loss']}); "
                                          "lower lr.")
                recent.append(logs)
                if step % 10 == 0 or step == steps - 1:
                    history.append({"step": step, **logs})
                step += 1
                if bar is not None:
                    bar.update(batch_size)
                    if step % 10 == 0:
                        elapsed = time.perf_counter() - start
                        bar.set_postfix(loss=f"{logs['loss']:.3f}", acc=f"{logs['category_accuracy']:.2f}",
                                        ips=f"{step * batch_size / elapsed:.0f}")
        wall = time.perf_counter() - start
        if bar is not None:
            bar.close()
            bar = None
        stream.close()
        stream = None

        tail = recent[-max(1, steps // 10):]
        final_losses = {k: float(np.mean([r[k] for r in tail])) for k in tail[0]}
        vit.eval()
        probe = {}
        if probe_images:
            probe_seed = [seed, _PROBE_STREAM]
            probe["pretrained"] = probe_trunk(vit, n_images=probe_images, random_state=probe_seed)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # the trunk's own initial weights
                random_vit = build_trunk(image_size, **kwargs).eval()
            probe["random_init"] = probe_trunk(random_vit, n_images=probe_images, random_state=probe_seed)
            probe["features"] = ("last block, before the final norm: CLS + mean patch token (category, hue, "
                                 "orientation), 4x4-pooled patch tokens (position); 5-fold CV on fresh "
                                 "held-out images")
        n_seen = images_drawn
        meta = {
            "timm_name": TRUNK_TIMM_NAME,
            "timm_kwargs": dict(kwargs),
            "img_size": int(image_size),
            "image_mean": list(IMAGENET_MEAN),
            "image_std": list(IMAGENET_STD),
            "seed": int(seed),
            "n_images_seen": int(n_seen),
            "objective": OBJECTIVE,
            "probe": probe,
            "training": {"batch_size": batch_size, "steps": steps, "lr": float(lr),
                         "weight_decay": float(weight_decay), "warmup_steps": warmup,
                         "chunk_size": chunk_size, "grayscale_fraction": float(grayscale_fraction),
                         "passes": passes,
                         "final_losses": final_losses, "wall_time_s": float(wall),
                         "num_threads": torch.get_num_threads()},
            "brainembed_version": brainembed.__version__,
        }
        state_dict = {k: v.detach().to(torch.float16).contiguous() for k, v in vit.state_dict().items()}
        save_checkpoint({"state_dict": state_dict, "meta": meta}, out)
    finally:
        if bar is not None:
            bar.close()
        if stream is not None:
            stream.close()
        torch.set_num_threads(previous_threads)
    return {"path": str(out), "n_images_seen": int(n_seen), "steps": steps, "wall_time_s": float(wall),
            "images_per_s": float(n_seen / wall), "final_losses": final_losses, "history": history,
            "probe": probe}
