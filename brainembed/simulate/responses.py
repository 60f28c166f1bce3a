"""The response model of the simulated cortex: from images to noisy voxel responses.

Every voxel mixes two drives, each computed inside its population receptive
field (pRF, a 2-D Gaussian from :mod:`brainembed.simulate.cortex`):

**Low-level energy drive** (the whole response of V1-V3, most of hV4/V3A/B).
Gabor quadrature-pair energies (:mod:`brainembed.simulate.gabor`) at several
scales and orientations are pooled over the pRF. The voxel weights scales by a
log-Gaussian tuning around a preferred spatial frequency (finer near the fovea
and in V1, coarser in the periphery and in V3/hV4) and orientations by a weak
``1 + k cos 2(theta - phi)`` bias (preferred ``phi`` radial, as in the
radial bias of V1), plus a little chromatic (red-green, blue-yellow)
contrast energy (more in hV4). This tuned energy ``N`` is divided by the
untuned energy pooled over all scales and orientations ``D`` plus a
semi-saturation constant ``s`` (divisive normalisation, Heeger 1992) and
compressed, ``(N / (s + D)) ** n`` with ``n`` about 0.5 (compressive spatial
summation, Kay et al. 2013). Phase-invariant energy, normalisation and
compression make the response a nonlinear function of pixels: no linear
readout of pixels explains it, a model of Gabor energies does well.

**Category drive** (category regions, LO, the rest of high-level cortex).
The Gaussian-weighted amount of each category inside a large pRF
(:func:`brainembed.simulate.stimuli.category_coverage`) passes through a
sigmoidal presence function ``a**2 / (a**2 + a50**2)`` (a small face
already drives FFA well, a sliver of shoulders under a portrait hardly drives
EBA; secondary elements of an image count 0.3), and is weighted by the
voxel's selectivities (its main category plus weaker related ones, e.g.
face-body, food-object, indoor-outdoor within PPA, text-object), plus a
small, log-compressed low-level part (``log(1 + contrast energy in the pRF
relative to its median)`` and, for food, ``log(1 + colour energy)``), and
compressed with the same kind of exponent. The low-level part is kept small
and compressed so that, as in NSD, the images that drive a category region
most are images of its category: with a linear low-level term, high-contrast
text and cluttered indoor scenes topped every region's ranking and food
regions followed colour more than food.

The two drives are standardised over the stimulus distribution and mixed
with the voxel's ``energy_weight``; a per-voxel gain and baseline give the
noise-free signal. Measured responses add Gaussian noise whose standard
deviation is set from a target *noise-ceiling SNR* per voxel, ``ncsnr =
signal_sd / noise_sd`` (Allen et al. 2022).

Exactness of the noise ceiling: ``signal_sd`` is the standard deviation of a
voxel's noise-free signal over the stimulus distribution, **estimated on a
fresh reference sample of images** drawn from the same distribution as the
dataset's stimuli (``n_reference`` images, never shown to a subject); the
noise is then set to ``signal_sd / ncsnr``. ``true_ncsnr`` is therefore the
ncsnr of the data-generating process and ``true_noise_ceiling`` =
``ncsnr**2 / (ncsnr**2 + 1 / n)`` the exact ceiling (fraction of variance) of
responses averaged over ``n`` repeats; the only approximation is the
sampling error of ``signal_sd`` (relative standard error about
``1 / sqrt(2 * n_reference)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError
from brainembed.simulate.cortex import CATEGORIES, IMAGE_DEGREES
from brainembed.simulate.gabor import GaborBank, colour_energy, default_frequencies, luminance

__all__ = [
    "REGION_SNR",
    "SECONDARY_WEIGHT",
    "ImageFeatures",
    "ResponseModel",
    "default_grid",
    "draw_noise",
    "image_features",
    "voxel_tuning",
]

# ncsnr relative to the dataset's median, by ground-truth region (higher in early cortex,
# lowest for word-selective cortex, as in NSD).
REGION_SNR = {
    "V1": 1.25, "V2": 1.2, "V3": 1.1, "hV4": 1.0, "V3AB": 0.95, "LO": 1.0, "EBA": 1.0,
    "FFA": 1.0, "PPA-indoor": 0.95, "PPA-outdoor": 0.95, "food-medial": 0.9, "food-lateral": 0.9,
    "VWFA": 0.75, "other": 0.8,
}
# Preferred spatial frequency at the fovea, cycles/deg, by area (falls with eccentricity).
_FOVEAL_SF = {"V1": 2.4, "V2": 1.9, "V3": 1.5, "hV4": 1.1, "V3AB": 1.1}
_COLOUR_WEIGHT = {"V1": 0.15, "V2": 0.2, "V3": 0.25, "hV4": 0.5, "V3AB": 0.1}
_EARLY = tuple(_FOVEAL_SF)
SECONDARY_WEIGHT = 0.3
"""Weight of an image's secondary elements in the category drive (the main element counts 1)."""


def default_grid(image_size: int) -> int:
    """Side of the pooling grid for an image size (about 4.7 pixels per cell at 112 px)."""
    return int(np.clip(image_size // 4 - 4, 8, 24))


@dataclass
class ImageFeatures:
    """Everything the response model needs from a set of images.

    Attributes
    ----------
    energy : array of shape (n_images, n_scales, 3, grid, grid), float32
        Per scale: energy summed over orientations, and its ``cos 2 theta`` and
        ``sin 2 theta`` weighted sums (orientation-tuning basis).
    colour : array of shape (n_images, grid, grid), float32
        Chromatic contrast energy (red-green plus blue-yellow).
    objects : DataFrame
        Semantic elements (``image``, ``category``, ``x``, ``y``, ``radius``).
    frequencies : tuple of float
        Carrier frequency of each scale, cycles per image.
    """

    energy: np.ndarray
    colour: np.ndarray
    objects: pd.DataFrame
    frequencies: tuple

    def __len__(self) -> int:
        return len(self.energy)

    @property
    def grid(self) -> int:
        return self.energy.shape[-1]

    def subset(self, rows) -> ImageFeatures:
        """Features of some images (in the order given); ``objects.image`` is renumbered."""
        rows = np.asarray(rows, dtype=np.int64)
        new = np.full(len(self), -1, dtype=np.int64)
        new[rows] = np.arange(len(rows))
        objects = self.objects[new[self.objects["image"].to_numpy()] >= 0]
        objects = objects.assign(image=new[objects["image"].to_numpy()]).reset_index(drop=True)
        return ImageFeatures(self.energy[rows], self.colour[rows], objects, self.frequencies)


def image_features(stimuli, *, n_scales: int = 4, n_orientations: int = 8, grid: int | None = None,
                   batch_size: int = 64) -> ImageFeatures:
    """Gabor energies, colour energy and objects of a :class:`~brainembed.simulate.stimuli.StimulusSet`.

    Parameters
    ----------
    stimuli : StimulusSet
    n_scales, n_orientations : int
        Gabor bank (frequencies one octave apart, see :func:`~brainembed.simulate.gabor.default_frequencies`).
    grid : int, optional
        Pooling grid side (default :func:`default_grid`).

    Returns
    -------
    ImageFeatures
    """
    size = stimuli.image_size
    grid = default_grid(size) if grid is None else int(grid)
    bank = GaborBank(size, default_frequencies(size, n_scales), n_orientations)
    theta = bank.orientations
    basis = np.stack([np.ones_like(theta), np.cos(2 * theta), np.sin(2 * theta)]).astype(np.float32)
    n = len(stimuli.images)
    energy = np.empty((n, len(bank.frequencies), 3, grid, grid), dtype=np.float32)
    colour = np.empty((n, grid, grid), dtype=np.float32)
    chunk = 8 * batch_size  # bounds the float copies of the images
    for start in range(0, n, chunk):
        images = stimuli.images[start:start + chunk]
        e = bank.energy(luminance(images), grid=grid, batch_size=batch_size)
        energy[start:start + chunk] = np.einsum("bo,nsoyx->nsbyx", basis, e, optimize=True)
        colour[start:start + chunk] = colour_energy(images, grid=grid).sum(axis=1)
    return ImageFeatures(energy=energy, colour=colour, objects=stimuli.objects, frequencies=bank.frequencies)


def _pooling_weights(rf_x, rf_y, rf_size, grid):
    """Mass of each voxel's Gaussian pRF in each grid cell, array of shape (grid * grid, n_voxels).

    Mass outside the image is lost, so a pRF that hangs off the image sees less.
    """
    from scipy.special import ndtr

    edges = np.linspace(-1.0, 1.0, grid + 1)[:, None]
    px = ndtr((edges[1:] - rf_x) / rf_size) - ndtr((edges[:-1] - rf_x) / rf_size)  # (grid, V)
    py = ndtr((edges[1:] - rf_y) / rf_size) - ndtr((edges[:-1] - rf_y) / rf_size)
    return (py[:, None, :] * px[None, :, :]).reshape(grid * grid, -1).astype(np.float32)


def voxel_tuning(voxels: pd.DataFrame, *, random_state=None) -> pd.DataFrame:
    """Draw each voxel's response parameters (ground truth) and add them as columns.

    Parameters
    ----------
    voxels : DataFrame
        Output of :func:`brainembed.simulate.cortex.simulate_cortex`.
    random_state : int, numpy Generator or None

    Returns
    -------
    DataFrame
        ``voxels`` plus ``pref_sf_cpd`` (preferred spatial frequency, cycles/deg),
        ``pref_orientation`` (rad, wave-vector direction), ``orientation_strength``,
        ``colour_weight``, ``exponent``, ``semisaturation`` (relative to the
        voxel's median normalisation pool), ``coverage_half`` (pRF mass of a
        category giving half its full drive), ``contrast_weight`` (low-level part
        of the category drive), ``food_colour_weight``, ``gain`` and ``baseline``.
    """
    rng = np.random.default_rng(random_state)
    v = voxels.copy()
    n = len(v)
    region = v["region"].to_numpy()
    early = np.isin(region, _EARLY)
    area = np.where(early, region, "hV4")
    foveal = np.array([_FOVEAL_SF[a] for a in area])
    ecc = v["ecc_deg"].to_numpy()
    v["pref_sf_cpd"] = foveal / (1.0 + 0.35 * ecc) * np.exp(rng.normal(0.0, 0.25, n))
    radial = np.arctan2(v["rf_y"].to_numpy(), v["rf_x"].to_numpy()) + np.pi / 2
    v["pref_orientation"] = np.mod(radial + rng.normal(0.0, np.deg2rad(30), n), np.pi)
    v["orientation_strength"] = rng.uniform(0.1, 0.5, n)
    base_colour = np.array([_COLOUR_WEIGHT.get(r, 0.3) for r in region])
    v["colour_weight"] = base_colour * np.exp(rng.normal(0.0, 0.3, n))
    v["exponent"] = rng.uniform(0.4, 0.6, n)
    v["semisaturation"] = np.exp(rng.normal(0.0, 0.3, n))
    v["coverage_half"] = 0.06 * np.exp(rng.normal(0.0, 0.3, n))
    v["contrast_weight"] = rng.uniform(0.025, 0.1, n)
    is_food = v["preferred_category"].to_numpy() == "food"
    v["food_colour_weight"] = np.where(is_food, rng.uniform(0.15, 0.25, n), rng.uniform(0.0, 0.05, n))
    v["gain"] = np.exp(rng.normal(0.0, 0.3, n))
    v["baseline"] = rng.normal(0.0, 0.5, n)
    return v


class ResponseModel:
    """Noise-free responses of a subject's voxels to images.

    Parameters
    ----------
    voxels : DataFrame
        Output of :func:`voxel_tuning`.

    Notes
    -----
    Call :meth:`calibrate` on a reference sample of images before
    :meth:`signal`: it fixes the per-scale energy normalisation, each
    voxel's semi-saturation constant, the standardisation of both drives and
    the signal's mean and standard deviation over the stimulus distribution
    (``signal_mean_``, ``signal_sd_``).
    """

    def __init__(self, voxels: pd.DataFrame):
        required = {"rf_x", "rf_y", "rf_size", "energy_weight", "pref_sf_cpd", "gain", "baseline"}
        missing = sorted(required - set(voxels.columns))
        if missing:
            raise BrainembedError(f"voxel table lacks column(s) {missing}; run voxel_tuning first.")
        self.voxels = voxels.reset_index(drop=True)

    # ------------------------------------------------------------------ drives
    def _param(self, name) -> np.ndarray:
        return self.voxels[name].to_numpy(dtype=np.float32)

    def _pool(self, features: ImageFeatures):
        w = _pooling_weights(self._param("rf_x"), self._param("rf_y"), self._param("rf_size"), features.grid)
        n, n_scales = features.energy.shape[:2]
        energy = features.energy.reshape(n * n_scales * 3, -1) @ w
        energy = energy.reshape(n, n_scales, 3, -1)
        colour = features.colour.reshape(n, -1) @ w
        return energy, colour

    def _components(self, features: ImageFeatures):
        """Tuned energy, normalisation pool, colour energy and category coverage, each per voxel."""
        v = self.voxels
        energy, colour = self._pool(features)
        energy /= self.scale_norm_[None, :, None, None]
        colour /= self.colour_norm_
        # Scale tuning: log-Gaussian (1 octave sd) around the preferred frequency.
        freqs_cpd = np.asarray(features.frequencies) / IMAGE_DEGREES
        octaves = np.log2(freqs_cpd[:, None] / v["pref_sf_cpd"].to_numpy()[None, :])
        scale_w = np.exp(-0.5 * octaves**2)
        scale_w = (scale_w / scale_w.sum(axis=0, keepdims=True)).astype(np.float32)
        phi = self._param("pref_orientation")
        k = self._param("orientation_strength")
        tuned = energy[:, :, 0] + k * (np.cos(2 * phi) * energy[:, :, 1] + np.sin(2 * phi) * energy[:, :, 2])
        numerator = np.einsum("nsv,sv->nv", tuned, scale_w) + self._param("colour_weight") * colour
        pool = energy[:, :, 0].mean(axis=1)
        return np.maximum(numerator, 0.0), pool, colour, self._coverage(features)

    def _drives(self, components):
        numerator, pool, colour, cover = components
        exponent = self._param("exponent")
        early = (numerator / (self.semisaturation_ + pool)) ** exponent
        sel = np.stack([self._param(f"sel_{c}") for c in CATEGORIES])  # (C, V)
        half = self._param("coverage_half")
        presence = cover**2 / (cover**2 + half**2)
        category = np.einsum("ncv,cv->nv", presence, sel)
        # Low-level parts, compressed: a high-contrast or very colourful image adds to a category
        # region's drive but cannot outweigh the category itself (top images of FFA are faces).
        category += self._param("contrast_weight") * np.log1p(pool / self.pool_median_)
        category += self._param("food_colour_weight") * np.log1p(colour)
        category = np.maximum(category, 0.0) ** exponent
        return early, category

    def _coverage(self, features: ImageFeatures):
        """Category coverage of each pRF, array of shape (n_images, n_categories, n_voxels).

        Only voxels with a category drive (``energy_weight < 1``) are computed; the others get 0.
        """
        from brainembed.simulate.stimuli import category_coverage

        v = self.voxels
        out = np.zeros((len(features), len(CATEGORIES), len(v)), dtype=np.float32)
        used = np.flatnonzero(self._param("energy_weight") < 1)
        if not used.size:
            return out
        centres = np.stack([self._param("rf_x")[used], self._param("rf_y")[used]], axis=1)
        sizes = self._param("rf_size")[used]
        objects = features.objects
        if "role" in objects.columns:
            # Secondary elements (the shoulders under a portrait, a head on a body) count less.
            secondary = objects["role"].to_numpy() == "secondary"
            cover = category_coverage(objects[~secondary], len(features), centres, sizes, categories=CATEGORIES)
            if secondary.any():
                cover += SECONDARY_WEIGHT * category_coverage(objects[secondary], len(features), centres, sizes,
                                                              categories=CATEGORIES)
        else:
            cover = category_coverage(objects, len(features), centres, sizes, categories=CATEGORIES)
        out[:, :, used] = cover
        return out

    # ------------------------------------------------------------------ public
    def calibrate(self, reference: ImageFeatures) -> ResponseModel:
        """Fix normalisations and the signal's statistics on a reference sample of images.

        Parameters
        ----------
        reference : ImageFeatures
            Features of fresh images from the stimulus distribution (at least 20).

        Returns
        -------
        self
        """
        if len(reference) < 20:
            raise BrainembedError(f"the reference sample needs at least 20 images, got {len(reference)}.")
        e0 = reference.energy[:, :, 0]
        self.scale_norm_ = np.maximum(e0.mean(axis=(0, 2, 3), dtype=np.float64), 1e-12).astype(np.float32)
        colour = float(reference.colour.mean(dtype=np.float64))
        self.colour_norm_ = np.float32(colour if colour > 1e-6 else 1.0)
        components = self._components(reference)
        self.pool_median_ = np.maximum(np.median(components[1], axis=0), 1e-9).astype(np.float32)
        self.semisaturation_ = self._param("semisaturation") * self.pool_median_
        early, category = self._drives(components)
        early, category = early.astype(np.float64), category.astype(np.float64)
        self.early_mean_, self.early_sd_ = early.mean(0), np.maximum(early.std(0), 1e-9)
        self.category_mean_, self.category_sd_ = category.mean(0), np.maximum(category.std(0), 1e-9)
        drive = self._mix(early, category)
        v = self.voxels
        signal = v["baseline"].to_numpy() + v["gain"].to_numpy() * drive
        self.signal_mean_ = signal.mean(axis=0)
        self.signal_sd_ = signal.std(axis=0, ddof=1)
        return self

    def _mix(self, early, category):
        w = self.voxels["energy_weight"].to_numpy()
        return (w * (early - self.early_mean_) / self.early_sd_
                + (1 - w) * (category - self.category_mean_) / self.category_sd_)

    def signal(self, features: ImageFeatures) -> np.ndarray:
        """Noise-free responses, array of shape (n_images, n_voxels), float64 (raw units)."""
        if not hasattr(self, "signal_sd_"):
            raise BrainembedError("the response model is not calibrated; call calibrate(reference) first.")
        early, category = (d.astype(np.float64) for d in self._drives(self._components(features)))
        v = self.voxels
        return v["baseline"].to_numpy() + v["gain"].to_numpy() * self._mix(early, category)

    def drives(self, features: ImageFeatures):
        """The two drives before mixing: (energy drive, category drive), each (n_images, n_voxels)."""
        if not hasattr(self, "signal_sd_"):
            raise BrainembedError("the response model is not calibrated; call calibrate(reference) first.")
        return self._drives(self._components(features))


def draw_noise(rng, shape, noise_sd) -> np.ndarray:
    """Gaussian measurement noise, array of ``shape`` (..., n_voxels), float32."""
    return rng.standard_normal(shape, dtype=np.float32) * np.asarray(noise_sd, dtype=np.float32)
