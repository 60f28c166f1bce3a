"""Preprocessing helpers: per-run z-scoring, repeats, SNR and noise ceiling.

Conventions
-----------
- Samples first: single-trial responses are arrays of shape
  (n_trials, n_voxels); repeated measurements are arrays of shape
  (n_images, n_repeats, n_voxels) where a missing repeat (an image seen fewer
  times than others) is a NaN entry.
- Noise ceilings are **fractions** in [0, 1] (NSD reports them in percent;
  multiply by 100 to compare). The same convention holds across brainembed:
  encoding accuracy ``r**2 / noise_ceiling`` is a fraction too.

References
----------
Allen, E. J. et al. (2022). A massive 7T fMRI dataset to bridge cognitive
neuroscience and artificial intelligence. Nature Neuroscience 25, 116-126
(noise-ceiling SNR, "ncsnr", and the noise ceiling of averaged trials).
"""

from __future__ import annotations

import numpy as np

from brainembed.errors import BrainembedError
from brainembed.validation import as_float_array

__all__ = [
    "average_repeats",
    "group_repeats",
    "ncsnr_from_repeats",
    "noise_ceiling_from_ncsnr",
    "noise_ceiling_from_repeats",
    "snr_from_repeats",
    "snr_voxel_selection",
    "zscore_runs",
]


def _check_repeats(repeats):
    repeats = as_float_array("repeats", repeats, ndim=3, min_rows=0, allow_nan=True)
    n_images, n_repeats, n_voxels = repeats.shape
    if n_images < 2 or n_repeats < 2 or n_voxels < 1:
        raise BrainembedError(
            "repeats must have shape (n_images >= 2, n_repeats >= 2, n_voxels >= 1), "
            f"got {repeats.shape}."
        )
    return repeats


def zscore_runs(responses, run_labels, ddof=0):
    """Z-score every voxel within each run (or session).

    Parameters
    ----------
    responses : array of shape (n_trials, n_voxels)
        Single-trial responses, e.g. GLM betas.
    run_labels : array of shape (n_trials,)
        Run (or session) of each trial; any hashable labels.
    ddof : int, default=0
        Delta degrees of freedom of the standard deviation.

    Returns
    -------
    zscored : array of shape (n_trials, n_voxels), float64
        Responses with zero mean and unit standard deviation per voxel within
        each run. A voxel that is constant within a run is set to 0 there.
    """
    responses = as_float_array("responses", responses, ndim=2, min_rows=0)
    run_labels = np.asarray(run_labels)
    if run_labels.shape != (responses.shape[0],):
        raise BrainembedError(
            f"run_labels must have shape ({responses.shape[0]},) to match responses' trials, "
            f"got {run_labels.shape}."
        )
    _, run_index = np.unique(run_labels, return_inverse=True)
    counts = np.bincount(run_index)
    if counts.min() <= ddof:
        raise BrainembedError(
            f"run_labels has a run with {counts.min()} trial(s); each run needs more than ddof={ddof}."
        )
    zscored = np.empty_like(responses)
    for run in range(counts.size):
        rows = run_index == run
        block = responses[rows]
        mean = block.mean(axis=0)
        std = block.std(axis=0, ddof=ddof)
        constant = std <= 1e-12 * np.maximum(np.abs(mean), 1.0)
        zscored[rows] = np.where(constant, 0.0, (block - mean) / np.where(constant, 1.0, std))
    return zscored


def group_repeats(responses, image_ids):
    """Gather single trials into a repeats array, one row per image.

    Parameters
    ----------
    responses : array of shape (n_trials, n_voxels)
        Single-trial responses.
    image_ids : array of shape (n_trials,)
        Image shown on each trial.

    Returns
    -------
    ids : array of shape (n_images,)
        Sorted unique image ids.
    repeats : array of shape (n_images, max_repeats, n_voxels), float64
        Trials of each image in their original order; images seen fewer than
        ``max_repeats`` times are padded with NaN.
    """
    responses = as_float_array("responses", responses, ndim=2, min_rows=0)
    image_ids = np.asarray(image_ids)
    if image_ids.shape != (responses.shape[0],):
        raise BrainembedError(
            f"image_ids must have shape ({responses.shape[0]},) to match responses' trials, got {image_ids.shape}."
        )
    ids, image_index = np.unique(image_ids, return_inverse=True)
    counts = np.bincount(image_index)
    order = np.argsort(image_index, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    repeat_index = np.arange(order.size) - np.repeat(starts, counts)
    repeats = np.full((ids.size, counts.max(), responses.shape[1]), np.nan)
    repeats[image_index[order], repeat_index] = responses[order]
    return ids, repeats


def average_repeats(repeats):
    """Average repeated measurements of each image, ignoring missing (NaN) repeats.

    Parameters
    ----------
    repeats : array of shape (n_images, n_repeats, n_voxels)
        Repeated measurements; NaN marks a missing repeat.

    Returns
    -------
    averaged : array of shape (n_images, n_voxels), float64
        Mean over the valid repeats of each image.
    """
    repeats = as_float_array("repeats", repeats, ndim=3, min_rows=0, allow_nan=True)
    valid = np.isfinite(repeats)
    if not valid.any(axis=1).all():
        raise BrainembedError("repeats has an image with no valid (non-NaN) repeat for some voxel.")
    counts = valid.sum(axis=1)
    return np.where(valid, repeats, 0.0).sum(axis=1) / counts


def _noise_variance(repeats):
    """Mean over images of the across-repeat variance (ddof=1), per voxel."""
    valid = np.isfinite(repeats)
    counts = valid.sum(axis=1)  # (n_images, n_voxels)
    filled = np.where(valid, repeats, 0.0)
    means = filled.sum(axis=1) / np.maximum(counts, 1)
    squares = (np.where(valid, repeats - means[:, None, :], 0.0) ** 2).sum(axis=1)
    usable = counts >= 2
    if not usable.any(axis=0).all():
        raise BrainembedError("repeats needs at least one image with two or more valid repeats for every voxel.")
    per_image = np.where(usable, squares / np.maximum(counts - 1, 1), 0.0)
    return per_image.sum(axis=0) / usable.sum(axis=0)


def ncsnr_from_repeats(repeats):
    """Noise-ceiling signal-to-noise ratio (ncsnr) of every voxel, NSD definition.

    With single-trial responses ``y[i, j] = s[i] + e[i, j]`` (image ``i``,
    repeat ``j``)::

        noise_var  = mean over images of var over repeats of y  (ddof=1)
        total_var  = var of all valid single trials              (ddof=1)
        signal_sd  = sqrt(max(total_var - noise_var, 0))
        ncsnr      = signal_sd / sqrt(noise_var)

    For responses z-scored per session (as in NSD) ``total_var`` is 1 and this
    is exactly Allen et al. (2022); for raw responses the ratio is unchanged by
    the voxel's scale.

    Parameters
    ----------
    repeats : array of shape (n_images, n_repeats, n_voxels)
        Single-trial responses grouped by image; NaN marks a missing repeat, so
        images may have different numbers of valid repeats. Images with one
        valid repeat count towards ``total_var`` only.

    Returns
    -------
    ncsnr : array of shape (n_voxels,)
        Non-negative; ``inf`` for a voxel without measurement noise and with
        signal, 0 for a voxel without signal.
    """
    repeats = _check_repeats(repeats)
    noise_var = _noise_variance(repeats)
    total_var = np.nanvar(repeats.reshape(-1, repeats.shape[2]), axis=0, ddof=1)
    signal_var = np.maximum(total_var - noise_var, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ncsnr = np.sqrt(signal_var) / np.sqrt(noise_var)
    return np.where(signal_var == 0.0, 0.0, ncsnr)


def _mean_inverse_count(n_averaged):
    n_averaged = np.asarray(n_averaged, dtype=np.float64)
    if n_averaged.ndim > 1 or n_averaged.size == 0:
        raise BrainembedError(
            f"n_averaged must be a number or an array of shape (n_images,), got shape {n_averaged.shape}."
        )
    if not np.all(np.isfinite(n_averaged)) or np.any(n_averaged < 1):
        raise BrainembedError("n_averaged must count at least one averaged repeat per image.")
    return np.mean(1.0 / n_averaged)


def noise_ceiling_from_ncsnr(ncsnr, n_averaged):
    """Noise ceiling of responses averaged over ``n_averaged`` repeats (fraction).

    ``NC = ncsnr**2 / (ncsnr**2 + 1 / n)`` (Allen et al., 2022), returned as a
    **fraction** in [0, 1] of explainable variance, not a percentage. When test
    images were averaged over different numbers of repeats, ``1 / n`` is the
    mean of ``1 / n_i`` over images, as in NSD.

    Parameters
    ----------
    ncsnr : array of shape (n_voxels,)
        Noise-ceiling SNR, see :func:`ncsnr_from_repeats`.
    n_averaged : int or array of shape (n_images,)
        Number of repeats averaged into each evaluated response.

    Returns
    -------
    noise_ceiling : array of shape (n_voxels,)
        Fraction in [0, 1] of the variance of the averaged responses that a
        perfect model could explain; compare ``r**2`` with it.
    """
    try:
        ncsnr = np.asarray(ncsnr, dtype=np.float64)
    except (TypeError, ValueError):
        raise BrainembedError("ncsnr must be a numeric array of shape (n_voxels,).") from None
    if ncsnr.ndim != 1 or np.isnan(ncsnr).any() or (ncsnr < 0).any():
        raise BrainembedError("ncsnr must be an array of shape (n_voxels,) of non-negative numbers (inf allowed).")
    inverse_n = _mean_inverse_count(n_averaged)
    squared = ncsnr**2
    with np.errstate(invalid="ignore"):
        ceiling = squared / (squared + inverse_n)
    return np.where(np.isinf(ncsnr), 1.0, ceiling)


def noise_ceiling_from_repeats(repeats, n_averaged=None):
    """Noise ceiling (fraction in [0, 1]) of every voxel from repeated measurements.

    Parameters
    ----------
    repeats : array of shape (n_images, n_repeats, n_voxels)
        Single-trial responses grouped by image; NaN marks a missing repeat.
    n_averaged : int or array of shape (n_images,), optional
        Repeats averaged into the responses that will be evaluated. Default:
        the valid repeats of each image in ``repeats`` (i.e. the ceiling of
        ``average_repeats(repeats)``), counted per voxel.

    Returns
    -------
    noise_ceiling : array of shape (n_voxels,)
        Fraction in [0, 1], see :func:`noise_ceiling_from_ncsnr`.
    """
    repeats = _check_repeats(repeats)
    ncsnr = ncsnr_from_repeats(repeats)
    if n_averaged is not None:
        return noise_ceiling_from_ncsnr(ncsnr, n_averaged)
    counts = np.isfinite(repeats).sum(axis=1).astype(np.float64)  # (n_images, n_voxels)
    seen = counts > 0
    inverse_n = np.where(seen, 1.0 / np.maximum(counts, 1.0), 0.0).sum(axis=0) / seen.sum(axis=0)
    squared = ncsnr**2
    with np.errstate(invalid="ignore"):
        ceiling = squared / (squared + inverse_n)
    return np.where(np.isinf(ncsnr), 1.0, ceiling)


def snr_from_repeats(repeats):
    """Voxel SNR: variance across images of the repeat-averaged responses ÷ noise variance.

    The denominator is the mean over images of the variance across repeats of
    the same image (ddof=1); the numerator is the variance (ddof=1) across
    images of the responses averaged over their valid repeats (Beliy et al.,
    Appendix B.1, as used to select vim-1 voxels).

    Parameters
    ----------
    repeats : array of shape (n_images, n_repeats, n_voxels)
        Single-trial responses grouped by image; NaN marks a missing repeat.

    Returns
    -------
    snr : array of shape (n_voxels,)
        Non-negative; ``inf`` where repeats are identical and images differ.
    """
    repeats = _check_repeats(repeats)
    noise_var = _noise_variance(repeats)
    between = np.var(average_repeats(repeats), axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = between / noise_var
    return np.where(between == 0.0, 0.0, snr)


def snr_voxel_selection(repeats, threshold=None, top_k=None):
    """Select voxels by SNR (see :func:`snr_from_repeats`).

    Give exactly one of ``threshold`` or ``top_k``.

    Parameters
    ----------
    repeats : array of shape (n_images, n_repeats, n_voxels)
        Single-trial responses grouped by image; NaN marks a missing repeat.
    threshold : float, optional
        Keep voxels whose SNR is strictly above this value.
    top_k : int, optional
        Keep the ``top_k`` voxels of highest SNR (ties broken by voxel order).

    Returns
    -------
    mask : array of shape (n_voxels,), bool
        True for the selected voxels.
    snr : array of shape (n_voxels,)
        SNR of every voxel.
    """
    if (threshold is None) == (top_k is None):
        raise BrainembedError("snr_voxel_selection needs exactly one of threshold or top_k.")
    snr = snr_from_repeats(repeats)
    if threshold is not None:
        if not np.isfinite(threshold):
            raise BrainembedError(f"threshold must be a finite number, got {threshold!r}.")
        return snr > threshold, snr
    if int(top_k) != top_k or not 1 <= top_k <= snr.size:
        raise BrainembedError(f"top_k must be an integer between 1 and n_voxels={snr.size}, got {top_k!r}.")
    order = np.argsort(-snr, kind="stable")
    mask = np.zeros(snr.size, dtype=bool)
    mask[order[: int(top_k)]] = True
    return mask, snr
