"""In-memory containers for one subject and for a crowd of subjects.

A :class:`SubjectData` holds one subject's responses to the images it saw,
with descriptors per image (id into the shared :class:`ImageStore`, split) and
per voxel (hemisphere, fsaverage vertex or volume coordinate, ROI, ...).
A :class:`Crowd` holds subjects of one or several datasets that share one image
store and one *global voxel index*: subject ``s`` owns the contiguous slice
``crowd.voxel_slice(s)`` of the voxel-embedding table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from brainembed.data.subjects import resolve_subject, subject_key
from brainembed.errors import BrainembedError

SPLITS = ("train", "test")
VOXEL_COLUMNS_REQUIRED = ("hemi",)


def _check_finite(name: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise BrainembedError(f"{name} contains {n_bad} NaN or infinite values; clean or drop them first.")


@dataclass
class ImageStore:
    """Images stored once and referenced by integer id.

    Parameters
    ----------
    pixels : array of shape (n_images, height, width, 3), uint8
        RGB images (greyscale images have three equal channels).
    ids : array of shape (n_images,), int64
        Unique id of each image; subjects refer to images by these ids.
    metadata : DataFrame with n_images rows, optional
        Per-image descriptors (e.g. the simulation's ``category``).
    """

    pixels: np.ndarray
    ids: np.ndarray
    metadata: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self):
        self.pixels = np.asarray(self.pixels)
        self.ids = np.asarray(self.ids, dtype=np.int64)
        if self.pixels.ndim != 4 or self.pixels.shape[-1] != 3:
            raise BrainembedError(
                f"image pixels must have shape (n_images, height, width, 3), got {self.pixels.shape}."
            )
        if self.pixels.dtype != np.uint8:
            raise BrainembedError(f"image pixels must be uint8, got {self.pixels.dtype}.")
        if self.ids.shape != (self.pixels.shape[0],):
            raise BrainembedError(
                f"image ids have shape {self.ids.shape} but there are {self.pixels.shape[0]} images."
            )
        if len(np.unique(self.ids)) != len(self.ids):
            raise BrainembedError("image ids must be unique; the image store holds duplicated ids.")
        if self.metadata is None or len(self.metadata.columns) == 0:
            self.metadata = pd.DataFrame(index=range(len(self.ids)))
        if len(self.metadata) != len(self.ids):
            raise BrainembedError(
                f"image metadata has {len(self.metadata)} rows but there are {len(self.ids)} images."
            )
        self.metadata = self.metadata.reset_index(drop=True)
        self._position = {int(i): k for k, i in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the stored images."""
        return tuple(self.pixels.shape[1:3])

    def positions(self, ids) -> np.ndarray:
        """Row positions of image ids in this store.

        Raises
        ------
        BrainembedError
            If an id is not in the store.
        """
        ids = np.asarray(ids, dtype=np.int64).ravel()
        try:
            return np.fromiter((self._position[int(i)] for i in ids), dtype=np.int64, count=len(ids))
        except KeyError as err:
            raise BrainembedError(f"image id {err.args[0]} is not in the image store.") from None

    def get(self, ids) -> np.ndarray:
        """Pixels of the given image ids, array of shape (n, height, width, 3)."""
        return self.pixels[self.positions(ids)]


@dataclass
class SubjectData:
    """One subject's responses and descriptors.

    Parameters
    ----------
    dataset : str
        Dataset name (e.g. ``"7T"`` or ``"NSD"``).
    subject : str
        Subject id within the dataset (e.g. ``"1"``).
    responses : array of shape (n_images, n_voxels), float32
        Responses used for training/evaluation. By convention training rows may
        be single trials and test rows averages of repeats (as in NSD).
    image_ids : array of shape (n_images,), int64
        Id of the image behind each row, into the crowd's :class:`ImageStore`.
    split : array of shape (n_images,), str
        ``"train"`` or ``"test"`` per row.
    voxels : DataFrame with n_voxels rows
        Per-voxel descriptors. Required column ``hemi`` (``"lh"``/``"rh"``);
        usual columns ``vertex`` (fsaverage vertex, -1 if none), ``x``, ``y``,
        ``z`` (volume coordinates), ``roi``; the simulation adds ground truth
        (``region``, receptive-field parameters, ``true_noise_ceiling``).
    repeats : array of shape (n_images, n_repeats, n_voxels), optional
        Single-trial responses per repeat (NaN where an image had fewer repeats).
    field_strength : float
        Scanner field strength in tesla (0 when unknown).
    attrs : dict
        Free-form scalar attributes (e.g. the simulated SNR).
    """

    dataset: str
    subject: str
    responses: np.ndarray
    image_ids: np.ndarray
    split: np.ndarray
    voxels: pd.DataFrame
    repeats: np.ndarray | None = None
    field_strength: float = 0.0
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        self.dataset = str(self.dataset)
        self.subject = str(self.subject)
        self.responses = np.asarray(self.responses, dtype=np.float32)
        self.image_ids = np.asarray(self.image_ids, dtype=np.int64)
        self.split = np.asarray(self.split).astype(str)
        self.validate()

    @property
    def key(self) -> str:
        """``"<dataset>:<subject>"``, the subject's unique name in a crowd."""
        return subject_key(self.dataset, self.subject)

    @property
    def n_voxels(self) -> int:
        return self.responses.shape[1]

    @property
    def n_images(self) -> int:
        return self.responses.shape[0]

    def validate(self) -> None:
        """Check shapes, values and descriptors; raise :class:`BrainembedError` on the first problem."""
        who = f"subject {subject_key(self.dataset, self.subject)}"
        for what, name in (("dataset", self.dataset), ("subject", self.subject)):
            # The names become HDF5 group names and the key "dataset:subject".
            if name in ("", ".", "..") or "/" in name or "\x00" in name or (what == "dataset" and ":" in name):
                raise BrainembedError(f"{who}: {what} name {name!r} cannot be used; it must be non-empty, not "
                                      f"'.' or '..', and free of '/'{', :' if what == 'dataset' else ''} and NUL "
                                      f"characters.")
        if self.responses.ndim != 2:
            raise BrainembedError(
                f"{who}: responses must have shape (n_images, n_voxels), got {self.responses.shape}."
            )
        n_images, n_voxels = self.responses.shape
        if n_images == 0 or n_voxels == 0:
            raise BrainembedError(f"{who}: responses are empty (shape {self.responses.shape}).")
        _check_finite(f"{who}: responses", self.responses)
        if self.image_ids.shape != (n_images,):
            raise BrainembedError(
                f"{who}: {self.image_ids.shape[0] if self.image_ids.ndim else 0} image ids for "
                f"{n_images} response rows."
            )
        if self.split.shape != (n_images,):
            raise BrainembedError(f"{who}: split has {self.split.size} entries for {n_images} response rows.")
        bad = set(np.unique(self.split)) - set(SPLITS)
        if bad:
            raise BrainembedError(f"{who}: unknown split value(s) {sorted(bad)}; use 'train' or 'test'.")
        if not isinstance(self.voxels, pd.DataFrame) or len(self.voxels) != n_voxels:
            n_rows = len(self.voxels) if isinstance(self.voxels, pd.DataFrame) else "no"
            raise BrainembedError(f"{who}: voxel table has {n_rows} rows for {n_voxels} voxels.")
        missing = [c for c in VOXEL_COLUMNS_REQUIRED if c not in self.voxels.columns]
        if missing:
            raise BrainembedError(f"{who}: voxel table lacks required column(s) {missing}.")
        hemis = set(self.voxels["hemi"].astype(str).unique()) - {"lh", "rh", "none"}
        if hemis:
            raise BrainembedError(f"{who}: voxel hemisphere values {sorted(hemis)} are not 'lh', 'rh' or 'none'.")
        self.voxels = self.voxels.reset_index(drop=True)
        if self.repeats is not None:
            self.repeats = np.asarray(self.repeats, dtype=np.float32)
            if self.repeats.ndim != 3 or self.repeats.shape[0] != n_images or self.repeats.shape[2] != n_voxels:
                raise BrainembedError(
                    f"{who}: repeats must have shape ({n_images}, n_repeats, {n_voxels}), "
                    f"got {self.repeats.shape}."
                )
            if np.isinf(self.repeats).any():
                raise BrainembedError(f"{who}: repeats contain infinite values.")

    def rows(self, split: str) -> np.ndarray:
        """Row indices of one split (``"train"``, ``"test"``) or ``"all"``."""
        if split == "all":
            return np.arange(self.n_images)
        if split not in SPLITS:
            raise BrainembedError(f"unknown split {split!r}; use 'train', 'test' or 'all'.")
        return np.flatnonzero(self.split == split)

    def subset_images(self, rows) -> SubjectData:
        """A copy restricted to some response rows (e.g. the first N training images)."""
        rows = np.asarray(rows, dtype=np.int64)
        return SubjectData(
            dataset=self.dataset,
            subject=self.subject,
            responses=self.responses[rows],
            image_ids=self.image_ids[rows],
            split=self.split[rows],
            voxels=self.voxels,
            repeats=None if self.repeats is None else self.repeats[rows],
            field_strength=self.field_strength,
            attrs=dict(self.attrs),
        )


class Crowd:
    """Subjects of one or more datasets with one image store and one global voxel index.

    Parameters
    ----------
    subjects : list of SubjectData
        In the order of the global voxel index.
    images : ImageStore
        Every image any subject saw.
    attrs : dict, optional
        Free-form attributes (e.g. the simulation preset and seed).

    Notes
    -----
    Subject ``k`` owns global voxels ``offsets[k] : offsets[k] + n_voxels[k]``.
    Subjects are addressed as ``"<dataset>:<subject>"`` or, when the id is
    unambiguous across datasets, by the subject id alone (``"1"``).
    """

    def __init__(self, subjects, images: ImageStore, attrs: dict | None = None):
        self.subjects = list(subjects)
        self.images = images
        self.attrs = dict(attrs or {})
        if not self.subjects:
            raise BrainembedError("a crowd needs at least one subject.")
        keys = [s.key for s in self.subjects]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise BrainembedError(f"subject(s) {dupes} appear more than once in the crowd.")
        for s in self.subjects:
            known = np.isin(s.image_ids, images.ids)
            if not known.all():
                first = int(s.image_ids[~known][0])
                raise BrainembedError(
                    f"subject {s.key}: image id {first} ({int((~known).sum())} in all) is not in the image store."
                )
        sizes = np.array([s.n_voxels for s in self.subjects], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def __len__(self) -> int:
        return len(self.subjects)

    def __iter__(self):
        return iter(self.subjects)

    def __repr__(self) -> str:
        return f"Crowd({len(self)} subjects, {self.n_voxels} voxels, {len(self.images)} images)"

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.subjects]

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(s.dataset for s in self.subjects))

    @property
    def n_voxels(self) -> int:
        """Total number of voxels over all subjects (size of the embedding table)."""
        return int(sum(s.n_voxels for s in self.subjects))

    def index(self, name) -> int:
        """Position of a subject given its key or bare id (rule of :mod:`brainembed.data.subjects`)."""
        keys = self.keys
        return keys.index(resolve_subject(name, keys))

    def subject(self, name) -> SubjectData:
        """The subject called ``name`` (see :meth:`index`)."""
        return self.subjects[self.index(name)]

    def voxel_slice(self, name) -> slice:
        """Global voxel-index slice owned by a subject."""
        k = self.index(name)
        start = int(self.offsets[k])
        return slice(start, start + self.subjects[k].n_voxels)

    def select(self, names) -> Crowd:
        """A crowd of some subjects (a new global voxel index, same image store)."""
        picked = [self.subject(n) for n in names]
        return Crowd(picked, self.images, self.attrs)

    def summary(self) -> pd.DataFrame:
        """One row per subject: dataset, subject, field strength, images per split, voxels."""
        rows = []
        for s, off in zip(self.subjects, self.offsets):
            rows.append({
                "dataset": s.dataset,
                "subject": s.subject,
                "field_strength": s.field_strength,
                "n_train": int((s.split == "train").sum()),
                "n_test": int((s.split == "test").sum()),
                "n_voxels": s.n_voxels,
                "n_repeats": 0 if s.repeats is None else s.repeats.shape[1],
                "first_voxel": int(off),
                **{k: v for k, v in s.attrs.items() if np.isscalar(v)},
            })
        return pd.DataFrame(rows)
