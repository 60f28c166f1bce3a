"""Voxel embeddings as data: one row per voxel, with its subject, anatomy and ROI beside it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from brainembed.data.subjects import resolve_subjects, split_key, subject_key
from brainembed.errors import BrainembedError

__all__ = ["VoxelEmbeddings", "resolve_subjects", "subjects_tag"]

ID_COLUMNS = ("dataset", "subject", "voxel")


def subjects_tag(keys) -> str:
    """File-name-safe name of a list of subject keys: ``["7T:1", "7T:2"]`` -> ``"7T_1-7T_2"``."""
    return "-".join(str(k).replace(":", "_").replace("/", "_") for k in keys)


class VoxelEmbeddings:
    """Learned voxel embeddings with per-voxel descriptors.

    Parameters
    ----------
    embeddings : array of shape (n_voxels, n_dims)
        One embedding per voxel.
    voxels : DataFrame with n_voxels rows
        Required columns ``dataset``, ``subject`` and ``voxel`` (index of the
        voxel within its subject). Usual columns: ``hemi``, ``vertex``
        (fsaverage vertex within the hemisphere, -1 if none), ``roi``, and for
        simulated data the ground truth (``region``, ``preferred_category``,
        receptive-field parameters).

    Attributes
    ----------
    embeddings : array of shape (n_voxels, n_dims), float32
    voxels : DataFrame

    Examples
    --------
    >>> emb = load_embeddings("runs/demo/run")            # doctest: +SKIP
    >>> ppa = emb.select(subjects=["1", "2"], roi="PPA")  # doctest: +SKIP
    """

    def __init__(self, embeddings, voxels: pd.DataFrame):
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2:
            raise BrainembedError(f"embeddings must have shape (n_voxels, n_dims), got {embeddings.shape}.")
        if not np.all(np.isfinite(embeddings)):
            raise BrainembedError("embeddings contain NaN or infinite values.")
        if not isinstance(voxels, pd.DataFrame) or len(voxels) != len(embeddings):
            n_rows = len(voxels) if isinstance(voxels, pd.DataFrame) else "no"
            raise BrainembedError(f"the voxel table has {n_rows} rows for {len(embeddings)} embeddings.")
        missing = [c for c in ID_COLUMNS if c not in voxels.columns]
        if missing:
            raise BrainembedError(f"the voxel table lacks column(s) {missing}.")
        voxels = voxels.reset_index(drop=True).copy()
        voxels["dataset"] = voxels["dataset"].astype(str)
        voxels["subject"] = voxels["subject"].astype(str)
        voxels["voxel"] = voxels["voxel"].astype(np.int64)
        self.embeddings = embeddings
        self.voxels = voxels

    @classmethod
    def from_table(cls, weight, subjects: Mapping[str, pd.DataFrame]) -> VoxelEmbeddings:
        """Split an embedding table into subjects.

        Parameters
        ----------
        weight : array of shape (n_total, n_dims)
            The whole voxel-embedding table of a model.
        subjects : mapping of str to DataFrame
            ``"dataset:subject"`` key -> that subject's voxel table, in the
            order of the table (subject k owns the rows after subjects 0..k-1).

        Returns
        -------
        VoxelEmbeddings
        """
        weight = np.asarray(weight)
        sizes = [len(v) for v in subjects.values()]
        if sum(sizes) != len(weight):
            raise BrainembedError(f"the subjects have {sum(sizes)} voxels in all but the embedding table has "
                                  f"{len(weight)} rows.")
        frames = []
        for key, table in subjects.items():
            dataset, subject = split_key(key)
            frame = table.reset_index(drop=True).drop(columns=[c for c in ID_COLUMNS if c in table.columns])
            frame.insert(0, "voxel", np.arange(len(table)))
            frame.insert(0, "subject", subject)
            frame.insert(0, "dataset", dataset)
            frames.append(frame)
        return cls(weight, pd.concat(frames, ignore_index=True))

    # ------------------------------------------------------------------ description
    def __len__(self) -> int:
        return len(self.embeddings)

    def __repr__(self) -> str:
        return f"VoxelEmbeddings({len(self)} voxels x {self.n_dims} dims, subjects {', '.join(self.keys)})"

    @property
    def n_dims(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def key(self) -> np.ndarray:
        """``"dataset:subject"`` of every voxel, array of shape (n_voxels,)."""
        return subject_key(self.voxels["dataset"], self.voxels["subject"]).to_numpy()

    @property
    def keys(self) -> list[str]:
        """Subject keys in order of appearance."""
        return list(dict.fromkeys(self.key))

    def rois(self) -> list[str]:
        """ROI labels present (empty when the voxel table has no ``roi`` column)."""
        if "roi" not in self.voxels.columns:
            return []
        return sorted(str(r) for r in self.voxels["roi"].dropna().unique())

    # ------------------------------------------------------------------ selection
    def resolve(self, names) -> list[str]:
        """Keys of subject names (the rule of :mod:`brainembed.data.subjects`)."""
        return resolve_subjects(names, self.keys)

    def subset(self, mask) -> VoxelEmbeddings:
        """The voxels where ``mask`` (boolean array of shape (n_voxels,)) is true, or at integer positions."""
        mask = np.asarray(mask)
        return VoxelEmbeddings(self.embeddings[mask], self.voxels.iloc[np.flatnonzero(mask) if mask.dtype == bool
                                                                       else mask])

    def select(self, subjects=None, roi=None) -> VoxelEmbeddings:
        """Voxels of some subjects and/or ROIs.

        Parameters
        ----------
        subjects : sequence of str, optional
            Subject keys or bare ids (see :func:`resolve_subjects`); default all.
        roi : str or sequence of str, optional
            Keep voxels whose ``roi`` is one of these; default all.

        Returns
        -------
        VoxelEmbeddings
            Subjects in the order given.
        """
        if subjects is not None:
            keys = self.resolve(subjects)
            order = {k: i for i, k in enumerate(keys)}
            rank = np.array([order.get(k, -1) for k in self.key])
            positions = np.flatnonzero(rank >= 0)
            positions = positions[np.argsort(rank[positions], kind="stable")]
        else:
            positions = np.arange(len(self))
        if roi is not None:
            wanted = [roi] if isinstance(roi, str) else list(roi)
            if "roi" not in self.voxels.columns:
                raise BrainembedError("the voxel table has no 'roi' column, so voxels cannot be selected by ROI.")
            labels = self.voxels["roi"].astype(str).to_numpy()
            present = set(labels[positions])
            for name in wanted:
                if name not in present:
                    raise BrainembedError(f"ROI {name!r} has no voxels in the selected subjects; choose from "
                                          f"{', '.join(sorted(present))}.")
            positions = positions[np.isin(labels[positions], wanted)]
        return self.subset(positions)
