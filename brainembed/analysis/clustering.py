"""k-means of voxel embeddings across subjects, cluster sizes, and clusterings saved in a run folder.

Layout of saved clusterings::

    RUN/clusters/LATEST            text file: the tag of the last clustering
    RUN/clusters/<tag>/labels.csv  one row per voxel: dataset, subject, voxel, hemi, vertex, roi,
                                   [region, preferred_category], cluster

``tag`` is ``k{K}_{subjects}`` (subject keys joined by ``-``, ``:`` replaced by
``_``), plus ``_roi-{ROI}`` for a clustering inside one ROI, ``_l2`` with L2
normalisation and ``_seed{S}`` for a seed other than 0 (see :func:`clustering_tag`).
The folders themselves belong to :class:`brainembed.training.run.RunDirectory`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin

from brainembed.analysis.embeddings import VoxelEmbeddings, subjects_tag
from brainembed.data.subjects import split_key, subject_key
from brainembed.errors import BrainembedError, BrainembedValueError
from brainembed.validation import check_count, check_is_fitted, is_integer, validate_estimator_data

__all__ = ["EmbeddingKMeans", "cluster_sizes", "cluster_voxels", "clustering_tag", "latest_clustering_tag",
           "load_clustering", "save_clustering"]

LABEL_COLUMNS = ("dataset", "subject", "voxel", "hemi", "vertex", "roi", "region", "preferred_category", "cluster")


def _l2_normalise(X: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norm, out=np.zeros_like(X), where=norm > 0)


class EmbeddingKMeans(ClusterMixin, BaseEstimator):
    """k-means of voxel embeddings, with optional L2 normalisation and size-ordered labels.

    Parameters
    ----------
    n_clusters : int, default=20
        Number of clusters k.
    normalize : bool, default=False
        Scale every embedding to unit length first (clusters by direction,
        i.e. cosine similarity, ignoring the embedding norm).
    n_init : int, default=10
        k-means restarts; the best (lowest inertia) is kept.
    max_iter : int, default=300
    random_state : int, numpy Generator or None, default=0
        Seed of the initialisation.

    Attributes
    ----------
    labels_ : array of shape (n_voxels,)
        Cluster of every voxel. Clusters are numbered by size: 0 is the largest.
    cluster_centers_ : array of shape (n_clusters, n_dims)
        Centres (in normalised space when ``normalize``), in label order.
    inertia_ : float
        Sum of squared distances of voxels to their centre.
    n_iter_ : int
        k-means iterations of the best restart.
    n_features_in_ : int
    """

    def __init__(self, n_clusters=20, *, normalize=False, n_init=10, max_iter=300, random_state=0):
        self.n_clusters = n_clusters
        self.normalize = normalize
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state

    def _transform(self, X, *, reset: bool):
        X = validate_estimator_data(self, X, reset=reset, dtype=np.float64)
        return _l2_normalise(X) if self.normalize else X

    def fit(self, X, y=None):
        """Cluster the embeddings.

        Parameters
        ----------
        X : array of shape (n_voxels, n_dims)
        y : None
            Ignored.

        Returns
        -------
        self : EmbeddingKMeans
        """
        from sklearn.cluster import KMeans

        k = check_count("the number of clusters k", self.n_clusters)
        X = self._transform(X, reset=True)
        if k > len(X):
            raise BrainembedValueError(f"k={k} clusters exceed the {len(X)} voxels to cluster; choose a smaller k.")
        if isinstance(self.random_state, np.random.Generator):
            seed = int(self.random_state.integers(2**31 - 1))
        else:
            seed = self.random_state
        model = KMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter, random_state=seed).fit(X)
        counts = np.bincount(model.labels_, minlength=k)
        order = np.lexsort((np.arange(k), -counts))  # largest first, ties by k-means label
        relabel = np.empty(k, dtype=np.int64)
        relabel[order] = np.arange(k)
        self.labels_ = relabel[model.labels_]
        self.cluster_centers_ = model.cluster_centers_[order]
        self.inertia_ = float(model.inertia_)
        self.n_iter_ = int(model.n_iter_)
        return self

    def predict(self, X):
        """Nearest cluster of each embedding.

        Parameters
        ----------
        X : array of shape (n_voxels, n_dims)

        Returns
        -------
        labels : array of shape (n_voxels,)
        """
        check_is_fitted(self, "cluster_centers_")
        X = self._transform(X, reset=False)
        centres = self.cluster_centers_
        distances = (centres**2).sum(1)[None, :] - 2.0 * X @ centres.T  # + |x|², the same for every centre
        return distances.argmin(1)


def cluster_voxels(embeddings: VoxelEmbeddings, n_clusters: int = 20, *, subjects=None, roi=None,
                   normalize: bool = False, n_init: int = 10, random_state=0) -> pd.DataFrame:
    """k-means over the voxel embeddings of several subjects together.

    Parameters
    ----------
    embeddings : VoxelEmbeddings
    n_clusters : int, default=20
    subjects : sequence of str, optional
        Subjects clustered together (keys or bare ids, see
        :func:`~brainembed.analysis.resolve_subjects`); default all.
    roi : str, optional
        Cluster only this ROI's voxels (ROI subdivision, e.g. ``"PPA"``).
    normalize : bool, default=False
        L2-normalise the embeddings first (see :class:`EmbeddingKMeans`).
    n_init : int, default=10
    random_state : int or None, default=0

    Returns
    -------
    labels : DataFrame
        One row per clustered voxel: the voxel descriptors
        (:data:`LABEL_COLUMNS` that exist) and ``cluster`` (0 = largest).
    """
    picked = embeddings.select(subjects=subjects, roi=roi)
    if is_integer(n_clusters) and n_clusters > len(picked):
        where = f"ROI {roi} of " if roi is not None else ""
        raise BrainembedError(f"k={n_clusters} clusters exceed the {len(picked)} voxels of {where}subjects "
                              f"{', '.join(picked.keys)}; choose a smaller k.")
    model = EmbeddingKMeans(n_clusters, normalize=normalize, n_init=n_init, random_state=random_state)
    model.fit(picked.embeddings)
    columns = [c for c in LABEL_COLUMNS[:-1] if c in picked.voxels.columns]
    labels = picked.voxels[columns].copy()
    labels["cluster"] = model.labels_
    return labels


def cluster_sizes(labels: pd.DataFrame, cluster_column: str = "cluster") -> pd.DataFrame:
    """Voxel counts and shares of every cluster and subject.

    Parameters
    ----------
    labels : DataFrame
        One row per voxel with ``dataset``, ``subject`` and the cluster column.
    cluster_column : str, default="cluster"

    Returns
    -------
    sizes : DataFrame
        One row per (cluster, subject), zeros included: ``cluster``,
        ``dataset``, ``subject``, ``n_voxels``, ``cluster_size`` (voxels of
        the cluster, all subjects), ``share_of_cluster`` (fraction of the
        cluster's voxels from this subject) and ``share_of_subject``
        (fraction of the subject's voxels in this cluster).
    """
    for column in ("dataset", "subject", cluster_column):
        if column not in labels.columns:
            raise BrainembedError(f"the labels table has no {column!r} column.")
    key = subject_key(labels["dataset"], labels["subject"])
    counts = pd.crosstab(labels[cluster_column], key)
    keys = list(dict.fromkeys(key))
    counts = counts.reindex(columns=keys, fill_value=0).sort_index()
    cluster_total = counts.sum(axis=1)
    subject_total = counts.sum(axis=0)
    rows = []
    for cluster in counts.index:
        for k in keys:
            dataset, subject = split_key(k)
            n = int(counts.loc[cluster, k])
            rows.append({"cluster": cluster, "dataset": dataset, "subject": subject, "n_voxels": n,
                         "cluster_size": int(cluster_total[cluster]),
                         "share_of_cluster": n / cluster_total[cluster],
                         "share_of_subject": n / subject_total[k]})
    return pd.DataFrame(rows)


def clustering_tag(n_clusters: int, subjects, *, roi=None, normalize: bool = False, random_state=0) -> str:
    """Folder name of a clustering, e.g. ``k20_7T_1-7T_2`` or ``k2_7T_1-7T_2_roi-PPA``.

    Parameters
    ----------
    n_clusters : int
    subjects : sequence of str
        Subject keys (``"dataset:subject"``).
    roi : str, optional
    normalize : bool
        Adds ``_l2``.
    random_state : int or None
        Adds ``_seed{S}`` unless 0 (``_seedNone`` for None).
    """
    tag = f"k{int(n_clusters)}_{subjects_tag(subjects)}"
    if roi is not None:
        tag += f"_roi-{str(roi).replace('/', '_').replace(' ', '_')}"
    if normalize:
        tag += "_l2"
    if random_state != 0:
        tag += f"_seed{random_state}"
    return tag


def save_clustering(labels: pd.DataFrame, run, tag: str) -> Path:
    """Write ``labels.csv`` into ``RUN/clusters/<tag>/`` and mark it as the latest clustering.

    Parameters
    ----------
    labels : DataFrame
        One row per voxel (see :func:`cluster_voxels`).
    run : path or RunDirectory
    tag : str

    Returns
    -------
    Path of the clustering folder.
    """
    from brainembed.training.run import RunDirectory

    run = RunDirectory.of(run)
    folder = run.clustering_dir(tag)
    folder.mkdir(parents=True, exist_ok=True)
    columns = [c for c in LABEL_COLUMNS if c in labels.columns]
    labels[columns].to_csv(folder / "labels.csv", index=False)
    run.mark_latest_clustering(tag)
    return folder


def latest_clustering_tag(run) -> str:
    """Tag of the last clustering written into a run folder (path or RunDirectory)."""
    from brainembed.training.run import RunDirectory

    return RunDirectory.of(run).latest_clustering_tag()


def load_clustering(run, tag=None) -> pd.DataFrame:
    """Cluster labels saved in a run folder.

    Parameters
    ----------
    run : path or RunDirectory
        Run folder.
    tag : str, optional
        Clustering tag (a folder of ``RUN/clusters``); None or ``"latest"``
        for the last clustering written.

    Returns
    -------
    labels : DataFrame
        One row per voxel (see :func:`cluster_voxels`); ``dataset`` and
        ``subject`` are strings.
    """
    from brainembed.training.run import RunDirectory

    path = RunDirectory.of(run).clustering_labels(tag)
    types = {"dataset": str, "subject": str, "hemi": str, "roi": str, "region": str, "preferred_category": str}
    return pd.read_csv(path, dtype=types, keep_default_na=False, na_values=[""])
