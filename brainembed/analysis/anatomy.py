"""Anatomical comparison of clusters across subjects on the fsaverage surface.

A functional cluster shared by two subjects need not sit on the same
fsaverage vertices: the paper found that more than half of the vertex
indices of a cluster differ between NSD subjects 1 and 2.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError

__all__ = ["vertex_overlap"]


def _vertex_sets(labels: pd.DataFrame, cluster_column: str) -> tuple[dict, dict, list]:
    """Per subject: {cluster: set of (hemi, vertex)} and the set of all its clustered vertices."""
    for column in ("dataset", "subject", "hemi", "vertex", cluster_column):
        if column not in labels.columns:
            what = " (fsaverage vertex of each voxel); anatomical overlap needs surface data" \
                if column == "vertex" else ""
            raise BrainembedError(f"the labels table has no {column!r} column{what}.")
    vertex = pd.to_numeric(labels["vertex"], errors="coerce").to_numpy()
    on_surface = np.isfinite(vertex) & (vertex >= 0)
    table = labels.loc[on_surface]
    key = subject_key(table["dataset"], table["subject"]).to_numpy()
    points = list(zip(table["hemi"].astype(str), vertex[on_surface].astype(np.int64)))
    clusters = table[cluster_column].to_numpy()
    per_cluster: dict = {}
    everything: dict = {}
    for k, point, cluster in zip(key, points, clusters):
        per_cluster.setdefault(k, {}).setdefault(cluster, set()).add(point)
        everything.setdefault(k, set()).add(point)
    order = list(dict.fromkeys(subject_key(labels["dataset"], labels["subject"])))
    return per_cluster, everything, order


def vertex_overlap(labels: pd.DataFrame, *, subjects=None, cluster_column: str = "cluster",
                   min_vertices: int = 5) -> pd.DataFrame:
    """How far each cluster covers the same fsaverage vertices in two subjects.

    For a cluster and subjects a and b, let A and B be the sets of (hemisphere,
    fsaverage vertex) that the cluster's voxels of each subject cover.

    Parameters
    ----------
    labels : DataFrame
        One row per voxel: ``dataset``, ``subject``, ``hemi``, ``vertex``
        (fsaverage vertex within the hemisphere; voxels with a negative or
        missing vertex are left out) and the cluster column.
    subjects : sequence of str, optional
        ``"dataset:subject"`` keys to compare (default: every subject in
        ``labels``); every pair is reported.
    cluster_column : str, default="cluster"
    min_vertices : int, default=5
        A cluster is ``matched`` for a pair when both subjects cover at least
        this many vertices with it.

    Returns
    -------
    overlap : DataFrame
        One row per (cluster, pair of subjects): ``cluster``, ``subject_a``,
        ``subject_b``, ``n_vertices_a`` (|A|), ``n_vertices_b`` (|B|),
        ``n_shared`` (|A ∩ B|), ``n_union``, ``jaccard`` (|A ∩ B| / |A ∪ B|),
        ``share_differ`` (1 - Jaccard: the share of the cluster's vertex indices
        that only one of the two subjects has), ``share_a_only`` (|A \\ B| / |A|),
        ``share_b_only`` (|B \\ A| / |B|), ``chance_jaccard`` (Jaccard expected if
        each subject's cluster were a random set of the same size among that
        subject's clustered vertices) and ``matched``. Shares are NaN where
        undefined (empty sets).
    """
    per_cluster, everything, order = _vertex_sets(labels, cluster_column)
    keys = order if subjects is None else [str(s) for s in subjects]
    unknown = [k for k in keys if k not in order]
    if unknown:
        raise BrainembedError(f"subject(s) {unknown} are not in the labels table; it has {', '.join(order)}.")
    if len(keys) < 2:
        raise BrainembedError("comparing anatomy needs at least two subjects.")
    clusters = sorted(pd.unique(labels[cluster_column]))
    rows = []
    for a, b in combinations(keys, 2):
        all_a, all_b = everything.get(a, set()), everything.get(b, set())
        common = len(all_a & all_b)
        for cluster in clusters:
            set_a = per_cluster.get(a, {}).get(cluster, set())
            set_b = per_cluster.get(b, {}).get(cluster, set())
            n_a, n_b = len(set_a), len(set_b)
            shared = len(set_a & set_b)
            union = n_a + n_b - shared
            expected = common * (n_a / len(all_a) if all_a else 0.0) * (n_b / len(all_b) if all_b else 0.0)
            nan = float("nan")
            rows.append({
                "cluster": cluster, "subject_a": a, "subject_b": b, "n_vertices_a": n_a, "n_vertices_b": n_b,
                "n_shared": shared, "n_union": union,
                "jaccard": shared / union if union else nan,
                "share_differ": 1.0 - shared / union if union else nan,
                "share_a_only": (n_a - shared) / n_a if n_a else nan,
                "share_b_only": (n_b - shared) / n_b if n_b else nan,
                "chance_jaccard": expected / (n_a + n_b - expected) if n_a + n_b - expected > 0 else nan,
                "matched": bool(n_a >= min_vertices and n_b >= min_vertices),
            })
    return pd.DataFrame(rows)
