"""Figures of voxel-embedding analyses: cluster sizes, top images, anatomical overlap, 2-D maps, RSA.

matplotlib is imported inside the functions; every function takes ``ax=`` or
``fig=`` and returns it, and never calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError

__all__ = ["plot_cluster_sizes", "plot_embedding_map", "plot_rdms", "plot_rsa_by_roi", "plot_top_images",
           "plot_vertex_overlap"]


def _categorical_colours(values, cmap_name: str = "tab20"):
    """A colour per distinct value (in order of first appearance)."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(values))
    cmap = plt.get_cmap(cmap_name if len(names) <= 20 else "hsv")
    n = max(len(names), 1)
    return {name: cmap(i % cmap.N if len(names) <= 20 else i / n) for i, name in enumerate(names)}


def plot_cluster_sizes(sizes: pd.DataFrame, ax=None, *, share: bool = False):
    """Voxels of every cluster, stacked by subject.

    Parameters
    ----------
    sizes : DataFrame
        From :func:`brainembed.analysis.cluster_sizes`.
    ax : matplotlib Axes, optional
    share : bool, default=False
        Plot each subject's share of the cluster instead of voxel counts.

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    needed = {"cluster", "dataset", "subject", "n_voxels", "share_of_cluster"}
    if not needed <= set(sizes.columns):
        raise BrainembedError(f"the sizes table lacks column(s) {sorted(needed - set(sizes.columns))}.")
    table = sizes.assign(key=subject_key(sizes["dataset"], sizes["subject"]))
    wide = table.pivot_table(index="cluster", columns="key", values="share_of_cluster" if share else "n_voxels",
                             aggfunc="sum", sort=False).fillna(0)
    wide = wide[list(dict.fromkeys(table["key"]))].sort_index()
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.35 * len(wide) + 2), 3.5))
    colours = _categorical_colours(wide.columns, "tab10")
    bottom = np.zeros(len(wide))
    x = np.arange(len(wide))
    for key in wide.columns:
        ax.bar(x, wide[key].to_numpy(), bottom=bottom, color=colours[key], label=key, width=0.8)
        bottom += wide[key].to_numpy()
    ax.set_xticks(x)
    ax.set_xticklabels([str(c) for c in wide.index], fontsize="small")
    ax.set_xlabel("cluster")
    ax.set_ylabel("share of the cluster's voxels" if share else "voxels")
    ax.legend(fontsize="small", frameon=False, ncol=min(4, len(wide.columns)))
    ax.set_title("Cluster sizes by subject")
    return ax


def plot_top_images(pixels, top: pd.DataFrame, *, clusters=None, n: int | None = None, summary=None, fig=None):
    """Top images of every cluster, one row per cluster.

    Parameters
    ----------
    pixels : array of shape (n_pool, height, width, 3), uint8
        The image pool; ``top["image"]`` indexes its rows.
    top : DataFrame
        From :func:`brainembed.analysis.top_images` (``cluster``, ``rank``,
        ``image`` and optionally ``category``, shown under each image).
    clusters : sequence, optional
        Clusters to show, in order (default all).
    n : int, optional
        Images per row (default all in ``top``).
    summary : DataFrame, optional
        Per-cluster table with ``cluster`` and any of ``n_voxels``,
        ``top_category``, ``top_category_share``, ``planted_region``, written
        beside each row.
    fig : matplotlib Figure, optional

    Returns
    -------
    fig : matplotlib Figure
    """
    import matplotlib.pyplot as plt

    pixels = np.asarray(pixels)
    if not {"cluster", "rank", "image"} <= set(top.columns):
        raise BrainembedError("the top-image table needs 'cluster', 'rank' and 'image' columns.")
    clusters = list(dict.fromkeys(top["cluster"])) if clusters is None else list(clusters)
    n = int(top["rank"].max()) + 1 if n is None else int(n)
    info = summary.set_index("cluster") if summary is not None else None
    if fig is None:
        fig = plt.figure(figsize=(0.85 * n + 1.6, 1.0 * len(clusters) + 0.3))
    axes = fig.subplots(len(clusters), n, squeeze=False)
    for row, cluster in enumerate(clusters):
        part = top[(top["cluster"] == cluster) & (top["rank"] < n)].sort_values("rank")
        for col in range(n):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(part):
                entry = part.iloc[col]
                ax.imshow(pixels[int(entry["image"])], cmap="gray" if pixels.ndim == 3 else None)
                if "category" in part.columns:
                    ax.set_xlabel(str(entry["category"]), fontsize=6, labelpad=1)
        label = f"cluster {cluster}"
        if info is not None and cluster in info.index:
            details = info.loc[cluster]
            if "n_voxels" in details:
                label += f"\n{int(details['n_voxels'])} voxels"
            if "top_category" in details and isinstance(details["top_category"], str):
                label += f"\n{details['top_category']} {details['top_category_share']:.0%}"
            if "planted_region" in details:
                label += f"\n({details['planted_region']})"
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.subplots_adjust(left=1.4 / fig.get_figwidth(), right=0.99, top=0.99, bottom=0.01, wspace=0.05,
                        hspace=0.35)
    return fig


def plot_vertex_overlap(overlap: pd.DataFrame, ax=None, *, pair=None, matched_only: bool = False):
    """Jaccard overlap of every cluster's fsaverage vertices between two subjects, beside chance.

    Parameters
    ----------
    overlap : DataFrame
        From :func:`brainembed.analysis.vertex_overlap`.
    ax : matplotlib Axes, optional
    pair : (str, str), optional
        Subjects compared (default: the first pair in the table).
    matched_only : bool, default=False
        Show only clusters both subjects cover.

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if overlap.empty:
        raise BrainembedError("the overlap table is empty.")
    if pair is None:
        pair = (overlap["subject_a"].iloc[0], overlap["subject_b"].iloc[0])
    part = overlap[(overlap["subject_a"] == pair[0]) & (overlap["subject_b"] == pair[1])]
    if part.empty:
        raise BrainembedError(f"the overlap table has no pair {pair[0]} / {pair[1]}.")
    if matched_only:
        part = part[part["matched"]]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.35 * len(part) + 2), 3.5))
    x = np.arange(len(part))
    width = 0.27
    ax.bar(x - width, part["jaccard"].fillna(0).to_numpy(), width, color="tab:blue", label="Jaccard")
    ax.plot(x - width, part["chance_jaccard"].to_numpy(), "k_", markersize=8, label="Jaccard at chance")
    ax.bar(x, part["share_a_only"].fillna(0).to_numpy(), width, color="tab:orange",
           label=f"share of {pair[0]}'s vertices not in {pair[1]}'s")
    ax.bar(x + width, part["share_b_only"].fillna(0).to_numpy(), width, color="tab:green",
           label=f"share of {pair[1]}'s vertices not in {pair[0]}'s")
    ax.axhline(0.5, color="0.5", linewidth=0.6, linestyle=":")
    ax.set_xticks(x)
    ax.set_xticklabels([str(c) for c in part["cluster"]], fontsize="small")
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("cluster")
    ax.set_ylabel("share of fsaverage vertices")
    ax.set_title(f"Anatomical overlap of clusters: {pair[0]} vs {pair[1]}")
    ax.legend(fontsize="x-small", frameon=False, loc="upper center", ncol=2)
    return ax


def plot_embedding_map(coords, labels, ax=None, *, title: str | None = None, size: float = 4.0,
                       max_legend: int = 25):
    """Scatter of a 2-D map of voxel embeddings, one colour per label.

    Parameters
    ----------
    coords : array of shape (n_voxels, 2)
    labels : array of shape (n_voxels,)
        Category per voxel (ROI, subject, cluster, ...); numeric labels with
        many values are drawn with a continuous colour map.
    ax : matplotlib Axes, optional
    title : str, optional
    size : float, default=4
        Marker size.
    max_legend : int, default=25
        No legend beyond this many labels.

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise BrainembedError(f"coords must have shape (n_voxels, 2) with one label each, got {coords.shape} and "
                              f"{labels.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    numeric = np.issubdtype(labels.dtype, np.floating) and len(np.unique(labels)) > max_legend
    if numeric:
        points = ax.scatter(coords[:, 0], coords[:, 1], c=labels, s=size, cmap="viridis", linewidths=0)
        ax.figure.colorbar(points, ax=ax, shrink=0.8)
    else:
        text = labels.astype(str)
        colours = _categorical_colours(sorted(set(text), key=lambda v: (len(v), v)))
        for name, colour in colours.items():
            mask = text == name
            ax.scatter(coords[mask, 0], coords[mask, 1], s=size, color=colour, label=name, linewidths=0)
        if len(colours) <= max_legend:
            ax.legend(fontsize="x-small", markerscale=2.5, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_rdms(matrices, fig=None, *, order=None, cmap: str = "viridis"):
    """Dissimilarity matrices side by side (e.g. predicted vs measured).

    Parameters
    ----------
    matrices : mapping of str to array of shape (n, n)
        Title -> matrix.
    fig : matplotlib Figure, optional
    order : array of shape (n,), optional
        Reorder rows and columns (e.g. images sorted by category).
    cmap : str, default="viridis"

    Returns
    -------
    fig : matplotlib Figure
    """
    import matplotlib.pyplot as plt

    if not matrices:
        raise BrainembedError("no matrices to plot.")
    if fig is None:
        fig = plt.figure(figsize=(3.6 * len(matrices), 3.4))
    axes = fig.subplots(1, len(matrices), squeeze=False)[0]
    for ax, (name, matrix) in zip(axes, matrices.items()):
        matrix = np.asarray(matrix, dtype=float)
        if order is not None:
            matrix = matrix[np.ix_(order, order)]
        image = ax.imshow(matrix, cmap=cmap, interpolation="nearest")
        ax.set_title(name, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.75)
    return fig


def plot_rsa_by_roi(table: pd.DataFrame, value: str = "rsa", ax=None, *, p_column: str | None = None,
                    alpha: float = 0.05, ylabel: str | None = None):
    """RSA value of every ROI, one bar per subject; stars mark p < alpha.

    Parameters
    ----------
    table : DataFrame
        One row per (subject, ROI) with ``dataset``, ``subject``, ``roi`` and ``value``.
    value : str, default="rsa"
    ax : matplotlib Axes, optional
    p_column : str, optional
        Column of p-values (stars where below ``alpha``).
    alpha : float, default=0.05
    ylabel : str, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    needed = {"dataset", "subject", "roi", value}
    if not needed <= set(table.columns):
        raise BrainembedError(f"the RSA table lacks column(s) {sorted(needed - set(table.columns))}.")
    data = table.assign(key=subject_key(table["dataset"], table["subject"]))
    keys = list(dict.fromkeys(data["key"]))
    rois = list(dict.fromkeys(data["roi"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.6 * len(rois) * max(1, len(keys) / 2) + 2), 3.5))
    width = 0.8 / len(keys)
    colours = _categorical_colours(keys, "tab10")
    x = np.arange(len(rois))
    for j, key in enumerate(keys):
        part = data[data["key"] == key].set_index("roi").reindex(rois)
        heights = part[value].to_numpy(dtype=float)
        positions = x + (j - (len(keys) - 1) / 2) * width
        ax.bar(positions, np.nan_to_num(heights), width, color=colours[key], label=key)
        if p_column is not None and p_column in part.columns:
            for pos, h, p in zip(positions, heights, part[p_column].to_numpy(dtype=float)):
                if np.isfinite(p) and p < alpha and np.isfinite(h):
                    ax.text(pos, h + 0.01 * np.sign(h or 1), "*", ha="center", va="bottom" if h >= 0 else "top",
                            fontsize=8)
    ax.axhline(0, color="k", linewidth=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(rois, rotation=45, ha="right", fontsize="small")
    ax.set_ylabel(ylabel or value)
    ax.legend(fontsize="x-small", frameon=False, ncol=min(4, len(keys)))
    return ax
