"""Which images drive a cluster: mean predicted activation of its voxels over an image pool."""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError
from brainembed.validation import check_count

__all__ = ["cluster_activation", "top_image_categories", "top_images"]


def cluster_activation(predictions, labels, *, zscore: bool = True, relative: bool = False) -> pd.DataFrame:
    """Mean predicted activation of every cluster's voxels, per image.

    Parameters
    ----------
    predictions : array of shape (n_images, n_voxels)
        Predicted responses of the clustered voxels to an image pool.
    labels : array of shape (n_voxels,)
        Cluster of every voxel; voxels labelled with a negative number are ignored.
    zscore : bool, default=True
        Standardise each voxel's predictions over the pool before averaging,
        so every voxel weighs the same whatever its response scale (voxels with
        constant predictions count as 0). With False the raw predictions are
        averaged, as in the paper; the two agree closely when, as in the
        simulated crowd and NSD, responses were z-scored per voxel for training.
    relative : bool, default=False
        Subtract, for every image, the mean activation of all the clustered
        voxels: rank images by how much more they drive a cluster than the
        average voxel. A response component shared by every voxel (overall
        contrast, salience) otherwise puts the same images on top of every
        cluster; the paper ranks absolute activation (the default).

    Returns
    -------
    activation : DataFrame of shape (n_images, n_clusters)
        Columns are the cluster labels (sorted), rows the pool images in order.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels)
    if predictions.ndim != 2:
        raise BrainembedError(f"predictions must have shape (n_images, n_voxels), got {predictions.shape}.")
    if labels.shape != (predictions.shape[1],):
        raise BrainembedError(f"{labels.size} cluster labels for {predictions.shape[1]} predicted voxels.")
    if not np.all(np.isfinite(predictions)):
        raise BrainembedError("predictions contain NaN or infinite values.")
    if zscore:
        sd = predictions.std(axis=0)
        predictions = np.divide(predictions - predictions.mean(axis=0), sd, out=np.zeros_like(predictions),
                                where=sd > 1e-12)
    clusters = np.array(sorted(c for c in pd.unique(labels) if not (np.issubdtype(type(c), np.number) and c < 0)))
    if relative:
        predictions = predictions - predictions[:, np.isin(labels, clusters)].mean(axis=1, keepdims=True)
    columns = {c: predictions[:, labels == c].mean(axis=1) for c in clusters}
    return pd.DataFrame(columns, columns=list(clusters))


def top_images(activation: pd.DataFrame, n: int = 16, *, image_ids=None, categories=None) -> pd.DataFrame:
    """The n images with the highest activation of every cluster.

    Parameters
    ----------
    activation : DataFrame of shape (n_images, n_clusters)
        From :func:`cluster_activation`.
    n : int, default=16
        Images per cluster (at most the pool size).
    image_ids : array of shape (n_images,), optional
        Id of every pool image (default: its position).
    categories : array of shape (n_images,), optional
        Known category of every pool image (e.g. the simulation's).

    Returns
    -------
    top : DataFrame
        One row per (cluster, rank): ``cluster``, ``rank`` (0 = strongest),
        ``image`` (row in the pool), ``image_id``, ``activation`` and, when
        given, ``category``.
    """
    check_count("the number of top images", n)
    n_images = len(activation)
    if n_images == 0:
        raise BrainembedError("the image pool is empty.")
    image_ids = np.arange(n_images) if image_ids is None else np.asarray(image_ids)
    if image_ids.shape != (n_images,):
        raise BrainembedError(f"{image_ids.size} image ids for a pool of {n_images} images.")
    if categories is not None:
        categories = np.asarray(categories).astype(str)
        if categories.shape != (n_images,):
            raise BrainembedError(f"{categories.size} image categories for a pool of {n_images} images.")
    n = min(int(n), n_images)
    rows = []
    for cluster in activation.columns:
        values = activation[cluster].to_numpy()
        best = np.argsort(-values, kind="stable")[:n]
        for rank, image in enumerate(best):
            row = {"cluster": cluster, "rank": rank, "image": int(image), "image_id": image_ids[image],
                   "activation": float(values[image])}
            if categories is not None:
                row["category"] = categories[image]
            rows.append(row)
    return pd.DataFrame(rows)


def top_image_categories(top: pd.DataFrame) -> pd.DataFrame:
    """The dominant category among every cluster's top images.

    Parameters
    ----------
    top : DataFrame
        From :func:`top_images`, with a ``category`` column.

    Returns
    -------
    DataFrame
        One row per cluster: ``cluster``, ``n_top``, ``top_category`` (most
        frequent category; ties go to the better-ranked image) and
        ``top_category_share`` (its share of the top images).
    """
    if "category" not in top.columns:
        raise BrainembedError("the top-image table has no 'category' column; the pool's categories are unknown.")
    rows = []
    for cluster, part in top.sort_values(["cluster", "rank"]).groupby("cluster", sort=True):
        counts = part["category"].value_counts(sort=False)
        first_seen = {c: i for i, c in enumerate(dict.fromkeys(part["category"]))}
        best = max(counts.index, key=lambda c: (counts[c], -first_seen[c]))
        rows.append({"cluster": cluster, "n_top": len(part), "top_category": best,
                     "top_category_share": counts[best] / len(part)})
    return pd.DataFrame(rows, columns=["cluster", "n_top", "top_category", "top_category_share"])
