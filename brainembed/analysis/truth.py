"""Clusters against the simulation's ground truth: planted regions and their preferred categories.

The simulated crowd plants early visual areas (V1, V2, V3, hV4, V3A/B,
``preferred_category == "none"``), category regions (FFA, PPA-indoor,
PPA-outdoor, EBA, VWFA, food-medial, food-lateral, LO) and ``other`` cortex.
k-means over all voxels is dominated by the early voxels, whose embeddings
mostly encode receptive-field position rather than area, so agreement with
the planted regions is reported separately for category regions and early
areas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from brainembed.errors import BrainembedError

__all__ = ["cluster_truth", "compare_to_truth", "recovered_categories"]

EARLY_REGIONS = ("V1", "V2", "V3", "hV4", "V3AB")
NO_CATEGORY = "none"


def _scopes(labels: pd.DataFrame) -> dict:
    region = labels["region"].astype(str).to_numpy()
    if "preferred_category" in labels.columns:
        early = labels["preferred_category"].astype(str).to_numpy() == NO_CATEGORY
    else:
        early = np.isin(region, EARLY_REGIONS)
    category = ~early & (region != "other")
    return {"all": np.ones(len(labels), dtype=bool), "category regions": category, "early areas": early}


def compare_to_truth(labels: pd.DataFrame, *, cluster_column: str = "cluster", truth_column: str = "region"
                     ) -> pd.DataFrame:
    """Agreement of clusters with planted regions: adjusted Rand index and adjusted mutual information.

    Parameters
    ----------
    labels : DataFrame
        One row per voxel with the cluster column and the ground truth
        (``region``; ``preferred_category`` when known).
    cluster_column : str, default="cluster"
    truth_column : str, default="region"
        Ground-truth label compared with the clusters.

    Returns
    -------
    DataFrame
        One row per scope (``all`` voxels, ``category regions``, ``early
        areas``): ``scope``, ``n_voxels``, ``n_regions``, ``n_clusters``
        (clusters present among those voxels), ``ari`` and ``ami`` (NaN for
        fewer than 2 voxels).
    """
    for column in (cluster_column, truth_column, "region"):
        if column not in labels.columns:
            raise BrainembedError(f"the labels table has no {column!r} column (ground truth is only known for "
                                  "simulated data).")
    truth = labels[truth_column].astype(str).to_numpy()
    clusters = labels[cluster_column].to_numpy()
    rows = []
    for scope, mask in _scopes(labels).items():
        n = int(mask.sum())
        ari = ami = float("nan")
        if n >= 2:
            ari = float(adjusted_rand_score(truth[mask], clusters[mask]))
            ami = float(adjusted_mutual_info_score(truth[mask], clusters[mask]))
        rows.append({"scope": scope, "n_voxels": n, "n_regions": int(len(set(truth[mask]))),
                     "n_clusters": int(len(set(clusters[mask]))), "ari": ari, "ami": ami})
    return pd.DataFrame(rows)


def _mode(values: pd.Series):
    counts = values.value_counts(sort=True)
    return counts.index[0], counts.iloc[0] / len(values)


def cluster_truth(labels: pd.DataFrame, top: pd.DataFrame | None = None, *, cluster_column: str = "cluster",
                  dominance: float = 0.5) -> pd.DataFrame:
    """Per cluster: its planted region and category, and whether its top images show that category.

    Parameters
    ----------
    labels : DataFrame
        One row per voxel with the cluster column, ``region`` and
        ``preferred_category``.
    top : DataFrame, optional
        Top images per cluster with their ``category``
        (:func:`~brainembed.analysis.top_images`).
    cluster_column : str, default="cluster"
    dominance : float, default=0.5
        A cluster's top images are ``dominated`` by a category when at least
        this share of them belongs to it.

    Returns
    -------
    DataFrame
        One row per cluster: ``cluster``, ``n_voxels``, ``planted_region``
        (most common region of its voxels) and ``planted_region_share``,
        ``planted_category`` (most common preferred category; ``"none"`` for
        early areas) and ``planted_category_voxel_share``; with ``top``:
        ``n_top``, ``top_category``, ``top_category_share``, ``dominated`` and
        ``planted_category_top_share`` (share of the top images of the planted
        category; NaN when that is ``"none"``).
    """
    from brainembed.analysis.image_ranking import top_image_categories

    for column in (cluster_column, "region", "preferred_category"):
        if column not in labels.columns:
            raise BrainembedError(f"the labels table has no {column!r} column (ground truth is only known for "
                                  "simulated data).")
    rows = []
    for cluster, part in labels.groupby(cluster_column, sort=True):
        region, region_share = _mode(part["region"].astype(str))
        category, category_share = _mode(part["preferred_category"].astype(str))
        rows.append({"cluster": cluster, "n_voxels": len(part), "planted_region": region,
                     "planted_region_share": region_share, "planted_category": category,
                     "planted_category_voxel_share": category_share})
    table = pd.DataFrame(rows)
    if top is None:
        return table
    dominant = top_image_categories(top)
    dominant["dominated"] = dominant["top_category_share"] >= dominance
    table = table.merge(dominant, on="cluster", how="left")
    shares = []
    for cluster, category in zip(table["cluster"], table["planted_category"]):
        images = top.loc[top["cluster"] == cluster, "category"].astype(str)
        shares.append(float((images == category).mean()) if category != NO_CATEGORY and len(images) else np.nan)
    table["planted_category_top_share"] = shares
    return table


def recovered_categories(per_cluster: pd.DataFrame, categories=("face", "body", "indoor", "outdoor", "text", "food"),
                         *, share: float = 0.5) -> list[str]:
    """Categories that have a cluster of their own region whose top images show them (the paper's Figure 7).

    Parameters
    ----------
    per_cluster : DataFrame
        :func:`cluster_truth` with top images.
    categories : sequence of str
        Categories asked about (default: the six of the paper's figure).
    share : float, default=0.5
        A category is recovered when some cluster has at least this share of
        its voxels in regions preferring it (``planted_category_voxel_share``)
        and at least this share of its top images of it
        (``planted_category_top_share``).

    Returns
    -------
    list of str
        The recovered categories, in the order of ``categories``.
    """
    for column in ("planted_category", "planted_category_voxel_share", "planted_category_top_share"):
        if column not in per_cluster.columns:
            raise BrainembedError(f"the cluster table has no {column!r} column; pass cluster_truth(labels, top).")
    ok = ((per_cluster["planted_category_voxel_share"] >= share)
          & (per_cluster["planted_category_top_share"].fillna(0.0) >= share))
    found = set(per_cluster.loc[ok, "planted_category"].astype(str))
    return [c for c in categories if c in found]
