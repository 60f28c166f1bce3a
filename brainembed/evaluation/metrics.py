"""Per-voxel encoding metrics: Pearson r, encoding accuracy (r² / noise ceiling), MSE.

All functions take samples first: predictions and measurements are arrays of
shape (n_images, n_voxels). Noise ceilings are fractions in [0, 1] (see
:mod:`brainembed.data.preprocessing`), so encoding accuracy is a fraction too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedValueError
from brainembed.validation import as_float_array, check_method, same_shape

__all__ = [
    "encoding_accuracy",
    "evaluate_subject",
    "mse",
    "pearson_per_voxel",
    "summarize_by",
    "summarize_correlations",
]

_VOXEL_BLOCK = 4096


def zscore_rows(array):
    """Centre and scale every row to unit norm; constant rows become 0.

    Parameters
    ----------
    array : array of shape (n_rows, n_columns), float

    Returns
    -------
    array of shape (n_rows, n_columns)
        The dot product of two rows is their Pearson correlation.
    """
    centred = array - array.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=1, keepdims=True))
    # A constant row leaves only rounding error after centring: treat it as constant.
    tolerance = 1e-10 * np.abs(array).max(axis=1, keepdims=True) * np.sqrt(array.shape[1])
    return np.divide(centred, norm, out=np.zeros_like(centred), where=(norm > tolerance) & (norm > 0))


def _check_pair(pred, true, min_images=1):
    pred = as_float_array("pred", pred, ndim=2, min_rows=min_images)
    true = as_float_array("true", true, ndim=2, min_rows=min_images)
    same_shape("pred", pred, "true", true)
    return pred, true


def pearson_per_voxel(pred, true):
    """Pearson correlation across images between predicted and measured responses, per voxel.

    Parameters
    ----------
    pred : array of shape (n_images, n_voxels)
        Predicted responses.
    true : array of shape (n_images, n_voxels)
        Measured responses.

    Returns
    -------
    r : array of shape (n_voxels,)
        Correlation of each voxel, in [-1, 1]. A voxel whose prediction or
        measurement is constant over images has an undefined correlation,
        reported as 0 (never NaN).
    """
    pred, true = _check_pair(pred, true, min_images=2)
    r = np.empty(true.shape[1])
    for start in range(0, true.shape[1], _VOXEL_BLOCK):  # bounds the temporary copies
        block = slice(start, start + _VOXEL_BLOCK)
        r[block] = (zscore_rows(pred[:, block].T) * zscore_rows(true[:, block].T)).sum(axis=1)
    return np.clip(r, -1.0, 1.0)


def summarize_correlations(r):
    """Median, quartiles and mean of per-voxel correlations.

    Parameters
    ----------
    r : array of shape (n_voxels,)
        Per-voxel correlations (e.g. from :func:`pearson_per_voxel`).

    Returns
    -------
    summary : dict
        ``median``, ``p25``, ``p75`` (25th and 75th percentiles), ``mean`` and
        ``n_voxels``.
    """
    r = as_float_array("r", r, ndim=1)
    p25, median, p75 = np.percentile(r, [25, 50, 75])
    return {"median": float(median), "p25": float(p25), "p75": float(p75), "mean": float(r.mean()),
            "n_voxels": int(r.size)}


def encoding_accuracy(r, noise_ceiling, min_noise_ceiling=1e-3):
    """Encoding accuracy ``r**2 / noise_ceiling`` of every voxel (a fraction).

    Parameters
    ----------
    r : array of shape (n_voxels,)
        Per-voxel Pearson correlations.
    noise_ceiling : array of shape (n_voxels,)
        Noise ceiling of each voxel as a fraction in [0, 1] (not a percentage),
        e.g. from :func:`brainembed.data.preprocessing.noise_ceiling_from_repeats`.
    min_noise_ceiling : float, default=1e-3
        Voxels whose noise ceiling is below this value have no meaningful
        ceiling; their accuracy is NaN (use ``np.nanmedian`` or drop them).

    Returns
    -------
    accuracy : array of shape (n_voxels,)
        ``r**2 / noise_ceiling``; about 1 for a model at the ceiling, it can
        exceed 1 by estimation noise. NaN where the ceiling is below
        ``min_noise_ceiling``.
    """
    r = as_float_array("r", r, ndim=1)
    noise_ceiling = as_float_array("noise_ceiling", noise_ceiling, ndim=1)
    same_shape("r", r, "noise_ceiling", noise_ceiling)
    if noise_ceiling.max(initial=0.0) > 1.0 + 1e-9 or noise_ceiling.min(initial=0.0) < 0.0:
        raise BrainembedValueError(
            "noise_ceiling must be a fraction in [0, 1] (divide a percentage by 100)."
        )
    valid = noise_ceiling >= min_noise_ceiling
    return np.divide(r**2, noise_ceiling, out=np.full(r.shape, np.nan), where=valid)


def mse(pred, true, multioutput="uniform_average"):
    """Mean squared error between predicted and measured responses.

    Parameters
    ----------
    pred : array of shape (n_images, n_voxels)
        Predicted responses.
    true : array of shape (n_images, n_voxels)
        Measured responses.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
        Average over voxels (a float) or return one value per voxel.

    Returns
    -------
    error : float or array of shape (n_voxels,)
        Mean over images (and voxels) of the squared difference.
    """
    check_method("multioutput", multioutput, ("uniform_average", "raw_values"))
    pred, true = _check_pair(pred, true)
    per_voxel = ((pred - true) ** 2).mean(axis=0)
    return per_voxel if multioutput == "raw_values" else float(per_voxel.mean())


def _summary(table):
    r = table["r"].to_numpy()
    summary = {f"{key}_r": value for key, value in summarize_correlations(r).items() if key != "n_voxels"}
    summary["mse"] = float(table["mse"].mean())
    if "r2_over_nc" in table:
        accuracy = table["r2_over_nc"].to_numpy()
        valid = np.isfinite(accuracy)
        summary["median_r2_over_nc"] = float(np.median(accuracy[valid])) if valid.any() else np.nan
        summary["mean_r2_over_nc"] = float(accuracy[valid].mean()) if valid.any() else np.nan
        summary["median_noise_ceiling"] = float(table["noise_ceiling"].median())
        summary["n_voxels_with_nc"] = int(valid.sum())
    summary["n_voxels"] = int(len(table))
    return summary


def evaluate_subject(pred, true, noise_ceiling=None, roi=None, voxel_ids=None, min_noise_ceiling=1e-3):
    """Evaluate one subject's predictions on held-out images.

    Parameters
    ----------
    pred : array of shape (n_images, n_voxels)
        Predicted responses to the test images.
    true : array of shape (n_images, n_voxels)
        Measured responses (usually averaged repeats) to the same images.
    noise_ceiling : array of shape (n_voxels,), optional
        Noise ceiling as a fraction in [0, 1] of the measured responses; adds
        the columns ``noise_ceiling`` and ``r2_over_nc``.
    roi : array of shape (n_voxels,), optional
        ROI label of each voxel; adds the column ``roi`` (see :func:`summarize_by`).
    voxel_ids : array of shape (n_voxels,), optional
        Identifier of each voxel; default ``0 .. n_voxels - 1``.
    min_noise_ceiling : float, default=1e-3
        See :func:`encoding_accuracy`: ``r2_over_nc`` is NaN below it and such
        voxels are left out of the accuracy summary.

    Returns
    -------
    table : DataFrame with n_voxels rows
        Columns ``voxel``, ``r``, ``r2``, ``mse`` and, when given,
        ``noise_ceiling``, ``r2_over_nc``, ``roi``.
    summary : dict
        ``median_r``, ``p25_r``, ``p75_r``, ``mean_r``, ``mse`` (over all
        voxels), ``n_voxels``, ``n_images`` and, with a noise ceiling,
        ``median_r2_over_nc``, ``mean_r2_over_nc``, ``median_noise_ceiling``
        and ``n_voxels_with_nc``.
    """
    pred, true = _check_pair(pred, true, min_images=2)
    n_images, n_voxels = true.shape
    r = pearson_per_voxel(pred, true)
    columns = {}
    if voxel_ids is None:
        columns["voxel"] = np.arange(n_voxels)
    else:
        voxel_ids = np.asarray(voxel_ids)
        if voxel_ids.shape != (n_voxels,):
            raise BrainembedValueError(f"voxel_ids must have shape ({n_voxels},), got {voxel_ids.shape}.")
        columns["voxel"] = voxel_ids
    columns.update(r=r, r2=r**2, mse=mse(pred, true, multioutput="raw_values"))
    if noise_ceiling is not None:
        noise_ceiling = as_float_array("noise_ceiling", noise_ceiling, ndim=1)
        if noise_ceiling.shape != (n_voxels,):
            raise BrainembedValueError(f"noise_ceiling must have shape ({n_voxels},), got {noise_ceiling.shape}.")
        columns["noise_ceiling"] = noise_ceiling
        columns["r2_over_nc"] = encoding_accuracy(r, noise_ceiling, min_noise_ceiling)
    if roi is not None:
        roi = np.asarray(roi)
        if roi.shape != (n_voxels,):
            raise BrainembedValueError(f"roi must have shape ({n_voxels},) with one label per voxel, got {roi.shape}.")
        columns["roi"] = roi
    table = pd.DataFrame(columns)
    summary = _summary(table)
    summary["n_images"] = int(n_images)
    return table, summary


def summarize_by(table, by="roi"):
    """Summaries of an :func:`evaluate_subject` table per group of voxels.

    Parameters
    ----------
    table : DataFrame
        Per-voxel table from :func:`evaluate_subject` (or several concatenated,
        e.g. with a ``subject`` column).
    by : str or list of str, default="roi"
        Column(s) to group voxels by.

    Returns
    -------
    summaries : DataFrame
        One row per group with the ``by`` column(s) and the summary keys of
        :func:`evaluate_subject` (without ``n_images``).
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [key for key in keys + ["r", "mse"] if key not in table.columns]
    if missing:
        raise BrainembedValueError(f"table has no column(s) {missing}; pass the table from evaluate_subject.")
    rows = []
    for group, part in table.groupby(keys, sort=True):
        group = group if isinstance(group, tuple) else (group,)
        rows.append({**dict(zip(keys, group)), **_summary(part)})
    return pd.DataFrame(rows)
