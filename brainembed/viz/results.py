"""Figures of encoding results: median voxel correlation and image retrieval per subject and model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError


def _grouped_bars(summary: pd.DataFrame, value: str, ax, lower=None, upper=None, ylabel=""):
    needed = {"dataset", "subject", "model", value}
    missing = needed - set(summary.columns)
    if missing:
        raise BrainembedError(f"the summary table lacks column(s) {sorted(missing)}.")
    table = summary.assign(key=subject_key(summary["dataset"], summary["subject"]))
    keys = list(dict.fromkeys(table["key"]))
    models = list(dict.fromkeys(table["model"]))
    width = 0.8 / len(models)
    x = np.arange(len(keys))
    for j, model in enumerate(models):
        part = table[table["model"] == model].set_index("key").reindex(keys)
        heights = part[value].to_numpy(dtype=float)
        err = None
        if lower is not None and upper is not None:
            err = np.vstack([heights - part[lower].to_numpy(float), part[upper].to_numpy(float) - heights])
        ax.bar(x + (j - (len(models) - 1) / 2) * width, heights, width, yerr=err, capsize=2, label=model)
    ax.set_xticks(x)
    ax.set_xticklabels(keys, rotation=45, ha="right", fontsize="small")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_median_correlation(summary: pd.DataFrame, ax=None):
    """Median voxel correlation per subject and model, bars from the 25th to the 75th percentile (paper Fig. 4a).

    Parameters
    ----------
    summary : DataFrame
        One row per (dataset, subject, model) with ``median_r``, ``p25_r``, ``p75_r``.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.9 * summary["subject"].nunique() * 1.5), 4))
    _grouped_bars(summary, "median_r", ax, "p25_r", "p75_r", ylabel="median Pearson r (25th-75th pct.)")
    ax.set_title("Encoding accuracy on held-out test images")
    return ax


def plot_retrieval(summary: pd.DataFrame, ax=None, k: int = 1):
    """Top-k image retrieval accuracy per subject and model (paper Fig. 4b).

    Parameters
    ----------
    summary : DataFrame with ``top{k}`` columns (fractions)
    ax : matplotlib Axes, optional
    k : int

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    _grouped_bars(summary, f"top{k}", ax, ylabel=f"top-{k} retrieval accuracy")
    if f"chance_top{k}" in summary.columns:
        ax.axhline(float(summary[f"chance_top{k}"].iloc[0]), color="grey", ls="--", lw=1)
    return ax


def plot_transfer_curve(summary: pd.DataFrame, ax=None):
    """Median voxel r against the number of training images, mean ± sd over seeds (paper Fig. 6).

    Parameters
    ----------
    summary : DataFrame with ``model``, ``n_train``, ``median_r_mean``, ``median_r_sd``
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    needed = {"model", "n_train", "median_r_mean", "median_r_sd"}
    if needed - set(summary.columns):
        raise BrainembedError(f"the transfer summary lacks column(s) {sorted(needed - set(summary.columns))}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for model, part in summary.groupby("model", sort=False):
        part = part.sort_values("n_train")
        ax.errorbar(part["n_train"], part["median_r_mean"], yerr=part["median_r_sd"].fillna(0), marker="o",
                    capsize=3, label=model)
    ax.set_xscale("log")
    # Tick at the measured sizes, written in full (a log axis would show only 10^1, 10^2).
    sizes = np.unique(summary["n_train"].to_numpy(dtype=float))
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{v:.0f}" for v in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training images of the new subject")
    ax.set_ylabel("median voxel r on test images")
    ax.legend(frameon=False)
    return ax
