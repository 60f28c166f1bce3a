"""The crowd store: one HDF5 file holding images, subjects and ground truth.

Layout (``format = "brainembed-crowd"``, ``format_version = 1``)::

    /images/pixels          (n_images, H, W, 3) uint8, one chunk per image
    /images/ids             (n_images,) int64
    /images/metadata/<col>  one dataset per column; image_key (str), where written by an import, names
                            the image independently of the datasets that showed it (one key, one image)
    /subjects/<dataset>/<subject>/
        responses           (n_images, n_voxels) float32, chunked in image x voxel blocks
        image_ids, split    (n_images,)
        repeats             (n_images, n_repeats, n_voxels) float32, optional
        voxels/<col>        one dataset per column
        attrs: dataset, subject, field_strength, order, extra scalar attributes
    attrs: format, format_version, crowd attributes (JSON)

Reading a subset of voxels or images touches only the chunks that hold them
(:class:`CrowdStore`), so a 300k-voxel subject never has to fit in memory to
look at a few voxels.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.containers import Crowd, ImageStore, SubjectData
from brainembed.data.subjects import resolve_subject, resolve_subjects, subject_key
from brainembed.errors import BrainembedError

FORMAT = "brainembed-crowd"
FORMAT_VERSION = 1
STORE_NAME = "crowd.h5"


def _h5py():
    import h5py

    return h5py


def resolve_store_path(path) -> Path:
    """The HDF5 file of a store given the file itself or the folder holding ``crowd.h5``."""
    path = Path(path)
    if path.is_dir():
        path = path / STORE_NAME
    if not path.exists():
        raise BrainembedError(f"no crowd store at {path}; create one with `brainembed simulate --out DIR`.")
    return path


# --------------------------------------------------------------------------- frames
def _write_frame(group, frame: pd.DataFrame) -> None:
    h5py = _h5py()
    group.attrs["columns"] = json.dumps([str(c) for c in frame.columns])
    for col in frame.columns:
        values = frame[col].to_numpy()
        name = str(col)
        if values.dtype == bool:
            group.create_dataset(name, data=values.astype(np.uint8)).attrs["kind"] = "bool"
        elif values.dtype.kind in "iuf":
            group.create_dataset(name, data=values).attrs["kind"] = "number"
        else:
            text = np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                             for v in values], dtype=object)
            ds = group.create_dataset(name, data=text, dtype=h5py.string_dtype("utf-8"))
            ds.attrs["kind"] = "str"


def _read_frame(group, rows=None) -> pd.DataFrame:
    columns = json.loads(group.attrs.get("columns", "[]"))
    data = {}
    for col in columns:
        ds = group[col]
        values = ds[()] if rows is None else ds[np.sort(rows)]
        kind = ds.attrs.get("kind", "number")
        if kind == "bool":
            values = values.astype(bool)
        elif kind == "str":
            values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
        data[col] = values
    return pd.DataFrame(data, columns=columns)


# --------------------------------------------------------------------------- writing
def _chunks(shape, target_bytes=1 << 20, itemsize=4):
    """Image x voxel chunks of about ``target_bytes`` (both axes partially)."""
    n_img, n_vox = shape
    vox = min(n_vox, 4096)
    img = max(1, min(n_img, target_bytes // (itemsize * vox)))
    return (int(img), int(vox))


def store_file(path) -> Path:
    """The store file a path names: itself if it ends in ``.h5``/``.hdf5``, else ``path/crowd.h5``."""
    path = Path(path)
    return path if path.suffix in (".h5", ".hdf5") else path / STORE_NAME


def check_store_target(path, *, overwrite: bool = False) -> Path:
    """Check, before any work, that a crowd store can be written at ``path``.

    Parameters
    ----------
    path : str or Path
        File path, or a folder in which ``crowd.h5`` would be written.
    overwrite : bool
        Whether an existing store may be replaced.

    Returns
    -------
    Path of the store file.

    Raises
    ------
    BrainembedError
        If the store exists (without ``overwrite``), a parent is a file, or the
        nearest existing folder is not writable.
    """
    target = store_file(path)
    if target.exists() and not overwrite:
        raise BrainembedError(f"{target} already exists; choose another output or pass overwrite=True "
                              "(--overwrite).")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise BrainembedError(f"cannot write {target}: {folder} is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BrainembedError(f"cannot write {target}: folder {folder} is not writable.")
    try:  # permissions are not the whole story (root, read-only mounts, /proc): write a probe file
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise BrainembedError(f"cannot write {target}: folder {folder} refuses new files "
                              f"({err.strerror or type(err).__name__}).") from None
    return target


def save_crowd(crowd: Crowd, path, *, overwrite: bool = False) -> Path:
    """Write a crowd to an HDF5 store, atomically.

    Parameters
    ----------
    crowd : Crowd
    path : str or Path
        File path, or a folder in which ``crowd.h5`` is written.
    overwrite : bool
        Replace an existing store. Without it an existing file is an error.

    Returns
    -------
    Path of the written file. The file appears under its name only once it is
    complete (written to a temporary name, then renamed).
    """
    h5py = _h5py()
    path = check_store_target(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["crowd_attrs"] = json.dumps(crowd.attrs, default=str)
            img = f.create_group("images")
            h, w = crowd.images.image_size
            img.create_dataset("pixels", data=crowd.images.pixels, chunks=(1, h, w, 3))
            img.create_dataset("ids", data=crowd.images.ids)
            _write_frame(img.create_group("metadata"), crowd.images.metadata)
            subjects = f.create_group("subjects")
            for order, s in enumerate(crowd.subjects):
                g = subjects.require_group(s.dataset).create_group(s.subject)
                g.attrs.update({"dataset": s.dataset, "subject": s.subject,
                                "field_strength": float(s.field_strength), "order": order,
                                "attrs": json.dumps(s.attrs, default=str)})
                g.create_dataset("responses", data=s.responses, chunks=_chunks(s.responses.shape))
                g.create_dataset("image_ids", data=s.image_ids)
                g.create_dataset("split", data=s.split.astype(object), dtype=h5py.string_dtype("utf-8"))
                if s.repeats is not None:
                    n_img, n_rep, n_vox = s.repeats.shape
                    chunk = _chunks((n_img, n_vox))
                    g.create_dataset("repeats", data=s.repeats, chunks=(chunk[0], n_rep, chunk[1]))
                _write_frame(g.create_group("voxels"), s.voxels)
        os.replace(tmp, path)
    except (ValueError, TypeError) as err:  # e.g. a metadata column name or text HDF5 cannot hold
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BrainembedError(f"the crowd could not be written to {path} ({reason}).") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# --------------------------------------------------------------------------- reading
class CrowdStore:
    """Lazy, read-only access to a crowd store.

    Parameters
    ----------
    path : str or Path
        The ``crowd.h5`` file or the folder holding it.

    Examples
    --------
    >>> store = CrowdStore("sim/")                                # doctest: +SKIP
    >>> store.keys                                                # doctest: +SKIP
    ['7T:1', '7T:2', ...]
    >>> block = store.read_responses("7T:1", voxels=[0, 5, 9])  # only those columns are read  # doctest: +SKIP
    """

    def __init__(self, path):
        h5py = _h5py()
        self.path = resolve_store_path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError:
            raise BrainembedError(f"{self.path} is not a readable HDF5 file (corrupt or truncated).") from None
        try:
            self._groups, self.attrs = self._check_layout()
        except BrainembedError:
            self.close()
            raise
        except (OSError, KeyError, ValueError, RuntimeError):
            self.close()
            raise BrainembedError(f"{self.path} is damaged (corrupt or truncated HDF5 objects).") from None

    def _check_layout(self):
        """Validate the store's layout; return its subject groups (in order) and crowd attributes."""
        f = self._file
        if f.attrs.get("format") != FORMAT:
            raise BrainembedError(f"{self.path} is not a brainembed crowd store (missing format attribute).")
        if int(f.attrs.get("format_version", -1)) > FORMAT_VERSION:
            raise BrainembedError(f"{self.path} was written by a newer brainembed (format version "
                                  f"{f.attrs['format_version']}); upgrade brainembed.")
        for required in ("images/pixels", "images/ids", "subjects"):
            if required not in f:
                raise BrainembedError(f"{self.path} lacks the '{required}' entry; the store is incomplete.")
            f[required]
        groups = []
        for ds in f["subjects"]:
            for sub in f["subjects"][ds]:
                g = f["subjects"][ds][sub]
                for required in ("responses", "image_ids", "split", "voxels"):
                    if required not in g:
                        raise BrainembedError(f"{self.path}: subject {subject_key(ds, sub)} lacks '{required}'.")
                    g[required]  # opening reads the object header: a damaged one fails here, not later
                groups.append((int(g.attrs.get("order", len(groups))), subject_key(ds, sub), g))
        if not groups:
            raise BrainembedError(f"{self.path} holds no subjects.")
        groups.sort(key=lambda t: t[0])
        return {key: g for _, key, g in groups}, json.loads(f.attrs.get("crowd_attrs", "{}"))

    # context manager ------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    # lookup ---------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        """Subjects as ``"dataset:subject"`` in global-voxel-index order."""
        return list(self._groups)

    def resolve(self, name) -> str:
        """Full ``"dataset:subject"`` key for a key or a bare id (rule of :mod:`brainembed.data.subjects`)."""
        return resolve_subject(name, self._groups)

    def _group(self, name):
        return self._groups[self.resolve(name)]

    def shape(self, name) -> tuple[int, int]:
        """(n_images, n_voxels) of a subject's responses, read from metadata only."""
        return tuple(self._group(name)["responses"].shape)

    # partial reads ----------------------------------------------------------------
    @staticmethod
    def _index(selection, size, what):
        if selection is None:
            return slice(None)
        if isinstance(selection, slice):
            return selection
        idx = np.asarray(selection, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            raise BrainembedError(f"{what} index out of range: valid indices are 0..{size - 1}.")
        return idx

    def read_responses(self, name, *, voxels=None, images=None) -> np.ndarray:
        """Responses of one subject, optionally a subset of voxels and/or images.

        Only the HDF5 chunks covering the selection are read.

        Parameters
        ----------
        name : str
            Subject key.
        voxels, images : array-like of int or slice, optional
            Column (voxel) and row (image) indices, any order, duplicates allowed.

        Returns
        -------
        array of shape (n_selected_images, n_selected_voxels), float32
        """
        ds = self._group(name)["responses"]
        n_img, n_vox = ds.shape
        rows = self._index(images, n_img, "image")
        cols = self._index(voxels, n_vox, "voxel")
        # h5py takes one sorted, duplicate-free index list per read: read the voxel
        # columns first (touching only their chunks), then pick and reorder rows.
        c_read, c_back = (cols, None) if isinstance(cols, slice) else np.unique(cols, return_inverse=True)
        if isinstance(rows, slice):
            block = ds[rows, c_read]
        elif isinstance(cols, slice):
            r_read, r_back = np.unique(rows, return_inverse=True)
            block = ds[r_read, c_read][r_back]
        else:
            block = ds[:, c_read][rows]
        if c_back is not None:
            block = block[:, c_back]
        return np.asarray(block, dtype=np.float32)

    def read_voxels(self, name) -> pd.DataFrame:
        """Per-voxel descriptors of one subject."""
        return _read_frame(self._group(name)["voxels"])

    def read_image_ids(self, name) -> np.ndarray:
        return self._group(name)["image_ids"][()].astype(np.int64)

    def read_split(self, name) -> np.ndarray:
        """``"train"``/``"test"`` of each response row of one subject, array of shape (n_images,), str."""
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in self._group(name)["split"][()]])

    def read_all_image_ids(self) -> np.ndarray:
        """Ids of every image in the store, in stored order, array of shape (n_images,), int64."""
        return self._file["images/ids"][()].astype(np.int64)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the stored images, from metadata only."""
        return tuple(int(n) for n in self._file["images/pixels"].shape[1:3])

    def read_images(self, ids) -> np.ndarray:
        """Pixels of some image ids, array of shape (n, H, W, 3) uint8."""
        all_ids = self._file["images/ids"][()]
        order = {int(i): k for k, i in enumerate(all_ids)}
        try:
            pos = np.array([order[int(i)] for i in np.asarray(ids).ravel()], dtype=np.int64)
        except KeyError as err:
            raise BrainembedError(f"image id {err.args[0]} is not in the store {self.path}.") from None
        uniq, inverse = np.unique(pos, return_inverse=True)
        return self._file["images/pixels"][uniq][inverse]

    def image_metadata(self) -> pd.DataFrame:
        return _read_frame(self._file["images/metadata"])

    # whole objects ----------------------------------------------------------------
    def read_subject(self, name, *, repeats: bool = True) -> SubjectData:
        """Load one subject fully into memory (validated)."""
        g = self._group(name)
        try:
            return SubjectData(
                dataset=g.attrs["dataset"],
                subject=g.attrs["subject"],
                responses=g["responses"][()],
                image_ids=g["image_ids"][()],
                split=np.array([v.decode() if isinstance(v, bytes) else v for v in g["split"][()]]),
                voxels=_read_frame(g["voxels"]),
                repeats=g["repeats"][()] if repeats and "repeats" in g else None,
                field_strength=float(g.attrs.get("field_strength", 0.0)),
                attrs=json.loads(g.attrs.get("attrs", "{}")),
            )
        except (OSError, KeyError, ValueError, RuntimeError):  # h5py's errors for damaged objects and chunks
            raise BrainembedError(f"{self.path}: subject {self.resolve(name)} could not be read "
                                  f"(the file is corrupt or truncated).") from None

    def read_image_store(self, ids=None) -> ImageStore:
        """The image store (all images, or only some ids)."""
        f = self._file
        try:
            all_ids = f["images/ids"][()].astype(np.int64)
            meta = _read_frame(f["images/metadata"]) if "images/metadata" in f else pd.DataFrame()
            if ids is None:
                return ImageStore(f["images/pixels"][()], all_ids, meta)
            keep = np.flatnonzero(np.isin(all_ids, np.asarray(ids)))
            return ImageStore(f["images/pixels"][keep] if keep.size else
                              np.zeros((0,) + f["images/pixels"].shape[1:], np.uint8),
                              all_ids[keep], meta.iloc[keep] if len(meta.columns) else pd.DataFrame())
        except (OSError, KeyError, ValueError, RuntimeError):
            raise BrainembedError(f"{self.path}: the images could not be read (corrupt or truncated).") from None

    def summary(self) -> pd.DataFrame:
        """One row per subject from metadata only (nothing large is read)."""
        rows = []
        for g in self._groups.values():
            split = g["split"][()]
            split = np.array([v.decode() if isinstance(v, bytes) else v for v in split])
            attrs = json.loads(g.attrs.get("attrs", "{}"))
            rows.append({
                "dataset": g.attrs["dataset"], "subject": g.attrs["subject"],
                "field_strength": float(g.attrs.get("field_strength", 0.0)),
                "n_train": int((split == "train").sum()), "n_test": int((split == "test").sum()),
                "n_voxels": int(g["responses"].shape[1]),
                "n_repeats": int(g["repeats"].shape[1]) if "repeats" in g else 0,
                **{k: v for k, v in attrs.items() if np.isscalar(v)},
            })
        return pd.DataFrame(rows)


def load_crowd(path, subjects=None, *, repeats: bool = True) -> Crowd:
    """Load a crowd (all subjects, or some) into memory.

    Parameters
    ----------
    path : str or Path
        Store file or folder.
    subjects : list of str, optional
        ``"dataset:subject"`` keys or unambiguous subject ids; default all.
    repeats : bool
        Also load single-trial repeats (needed for noise ceilings).

    Returns
    -------
    Crowd
        Only the images the chosen subjects saw are loaded.
    """
    with CrowdStore(path) as store:
        keys = resolve_subjects(subjects, store.keys)
        loaded = [store.read_subject(k, repeats=repeats) for k in keys]
        ids = np.unique(np.concatenate([s.image_ids for s in loaded]))
        images = store.read_image_store(ids)
        return Crowd(loaded, images, store.attrs)


# --------------------------------------------------------------------------- streaming writer
class CrowdWriter:
    """Write a crowd store piece by piece, so that no subject or image set sits fully in memory.

    Images and each subject's response rows are appended in blocks; the store
    is written to a temporary file and appears under its name only when the
    ``with`` block ends without error and every subject got all its rows (the
    same atomic guarantee as :func:`save_crowd`). The result reads exactly like
    a store written by :func:`save_crowd`.

    Parameters
    ----------
    path : str or Path
        File path, or a folder in which ``crowd.h5`` is written.
    overwrite : bool
        Replace an existing store. Without it an existing file is an error.
    attrs : dict, optional
        Crowd attributes (JSON-serialisable).

    Examples
    --------
    >>> with CrowdWriter("out/") as writer:                                  # doctest: +SKIP
    ...     writer.add_images(pixels, ids)                                   # any number of blocks
    ...     sub = writer.add_subject("NSD", "1", image_ids=ids, split=split, voxels=voxels)
    ...     for block in blocks:                                             # rows in order
    ...         sub.write(block)                                             # (n_rows, n_voxels)
    """

    def __init__(self, path, *, overwrite: bool = False, attrs: dict | None = None):
        h5py = _h5py()
        path = Path(path)
        if path.suffix not in (".h5", ".hdf5"):
            path.mkdir(parents=True, exist_ok=True)
            path = path / STORE_NAME
        if path.exists() and not overwrite:
            raise BrainembedError(f"{path} already exists; choose another output or pass overwrite=True "
                                  "(--overwrite).")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self._file = h5py.File(self._tmp, "w")
        self._file.attrs["format"] = FORMAT
        self._file.attrs["format_version"] = FORMAT_VERSION
        self._file.attrs["crowd_attrs"] = json.dumps(dict(attrs or {}), default=str)
        self._images = self._file.create_group("images")
        self._subjects_group = self._file.create_group("subjects")
        self._pixels = None
        self._ids: list[np.ndarray] = []
        self._known: set[int] = set()
        self._metadata: list[pd.DataFrame] = []
        self._subjects: list[SubjectWriter | _CopiedSubject] = []
        self._key_ids: dict[str, int] = {}

    # context manager ------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def image_ids(self) -> np.ndarray:
        """Ids of the images written so far, array of shape (n_images,), int64."""
        return np.concatenate(self._ids) if self._ids else np.zeros(0, np.int64)

    @property
    def image_key_ids(self) -> dict[str, int]:
        """``image_key`` -> id of the images written so far that have a key (a copy)."""
        return dict(self._key_ids)

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(height, width) of the images written so far, or None before the first."""
        return None if self._pixels is None else tuple(int(n) for n in self._pixels.shape[1:3])

    @property
    def subject_keys(self) -> list[str]:
        """Keys of the subjects added so far, in order."""
        return [s.key for s in self._subjects]

    def add_images(self, pixels, ids, metadata: pd.DataFrame | None = None) -> int:
        """Append a block of images; ids already in the store are skipped.

        Parameters
        ----------
        pixels : array of shape (n, height, width, 3), uint8
            Every block must have the size of the first one.
        ids : array of shape (n,), int
            Unique image ids.
        metadata : DataFrame with n rows, optional
            Per-image descriptors (columns may differ between blocks; missing
            entries become NaN or empty strings).

        Returns
        -------
        int
            Number of images newly written.
        """
        block = ImageStore(pixels, ids, metadata if metadata is not None else pd.DataFrame())
        new = np.array([int(i) not in self._known for i in block.ids], dtype=bool)
        if not new.any():
            return 0
        pixels, ids = block.pixels[new], block.ids[new]
        meta = block.metadata.loc[new].reset_index(drop=True)
        named = self._named_images(ids, meta)
        h, w = pixels.shape[1:3]
        if self._pixels is None:
            self._pixels = self._images.create_dataset("pixels", shape=(0, h, w, 3), maxshape=(None, h, w, 3),
                                                       dtype=np.uint8, chunks=(1, h, w, 3))
        elif self._pixels.shape[1:3] != (h, w):
            raise BrainembedError(f"images of size {h}x{w} cannot join a store of "
                                  f"{self._pixels.shape[1]}x{self._pixels.shape[2]} images; resize them first.")
        start = self._pixels.shape[0]
        self._pixels.resize(start + len(ids), axis=0)
        self._pixels[start:] = pixels
        self._ids.append(ids)
        self._known.update(int(i) for i in ids)
        self._metadata.append(meta)
        self._key_ids.update(named)
        return int(len(ids))

    def _named_images(self, ids, meta: pd.DataFrame) -> dict[str, int]:
        """``image_key`` -> id of a block's new images; a key already naming another image is refused."""
        if "image_key" not in meta.columns:
            return {}
        named: dict[str, int] = {}
        for key, image in zip(meta["image_key"].to_numpy(dtype=object), ids):
            if not isinstance(key, str) or not key:
                continue
            other = self._key_ids.get(key, named.get(key))
            if other is not None:
                raise BrainembedError(f"image key {key} is given to two images (ids {other} and {int(image)}); "
                                      "an image key names one image.")
            named[key] = int(image)
        return named

    def add_subject(self, dataset: str, subject: str, *, image_ids, split, voxels: pd.DataFrame,
                    n_repeats: int = 0, field_strength: float = 0.0, attrs: dict | None = None) -> SubjectWriter:
        """Start a subject whose response rows are then written with :meth:`SubjectWriter.write`.

        Parameters
        ----------
        dataset, subject : str
            The subject's key is ``"<dataset>:<subject>"``.
        image_ids : array of shape (n_images,), int
            Image behind each response row (must be in the store by :meth:`close`).
        split : array of shape (n_images,), str
            ``"train"`` or ``"test"`` per row.
        voxels : DataFrame with n_voxels rows
            Per-voxel descriptors with a ``hemi`` column (see :class:`SubjectData`).
        n_repeats : int
            Second axis of the optional ``repeats`` array; 0 for none.
        field_strength : float
            Scanner field strength in tesla (0 when unknown).
        attrs : dict, optional
            Scalar attributes.

        Returns
        -------
        SubjectWriter
        """
        writer = SubjectWriter(self, str(dataset), str(subject), image_ids, split, voxels, int(n_repeats),
                               float(field_strength), dict(attrs or {}), order=len(self._subjects))
        if any(s.key == writer.key for s in self._subjects):
            raise BrainembedError(f"subject {writer.key} appears more than once in the crowd.")
        writer._create(self._subjects_group)
        self._subjects.append(writer)
        return writer

    def copy_store(self, store: CrowdStore, block_rows: int = 256) -> None:
        """Copy every image and subject of an open store into this one (before anything else is added).

        Images are copied ``block_rows`` at a time (with their metadata and
        ``image_key``), subjects object by object inside HDF5 (responses,
        repeats, voxels and attributes unchanged), in the store's order.

        Parameters
        ----------
        store : CrowdStore
        block_rows : int
            Images per block read and written.
        """
        if self._ids or self._subjects:
            raise BrainembedError("copy_store must come before any image or subject is added.")
        f = store._file
        try:
            ids = f["images/ids"][()].astype(np.int64)
            meta = _read_frame(f["images/metadata"]) if "images/metadata" in f else pd.DataFrame()
            pixels = f["images/pixels"]
            for start in range(0, len(ids), int(block_rows)):
                stop = min(start + int(block_rows), len(ids))
                self.add_images(pixels[start:stop], ids[start:stop],
                                meta.iloc[start:stop].reset_index(drop=True) if len(meta.columns) else None)
            for key, group in store._groups.items():
                dataset, subject = str(group.attrs["dataset"]), str(group.attrs["subject"])
                parent = self._subjects_group.require_group(dataset)
                self._file.copy(group, parent, name=subject)
                copied = parent[subject]
                copied.attrs["order"] = len(self._subjects)
                self._subjects.append(_CopiedSubject(key, copied))
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            if isinstance(err, BrainembedError):
                raise
            raise BrainembedError(f"{store.path} could not be copied (the file is corrupt or truncated).") from None

    def unify_test_images(self) -> pd.DataFrame:
        """Apply the split rule of :mod:`brainembed.data.splits` to every subject written so far.

        An image that is a test image for any subject becomes a test image for
        every subject that saw it; the ``split`` of each subject is rewritten.

        Returns
        -------
        DataFrame
            One row per subject: ``dataset``, ``subject``, ``moved_to_test``
            (rows moved from training to test), ``n_train``, ``n_test`` after.

        Raises
        ------
        BrainembedError
            If a subject that had training images would be left with none.
        """
        from brainembed.data.splits import unify_test_images

        ids = [s.image_ids for s in self._subjects]
        splits = [s.split for s in self._subjects]
        new, moved = unify_test_images(ids, splits)
        rows = []
        for s, split, n in zip(self._subjects, new, moved):
            if n and not (split == "train").any():
                raise BrainembedError(f"subject {s.key} would keep no training image: all of its {int(n)} training "
                                      "images are test images of other subjects in the store.")
            if n:
                s.set_split(split)
            rows.append({"dataset": s.dataset, "subject": s.subject, "moved_to_test": int(n),
                         "n_train": int((split == "train").sum()), "n_test": int((split == "test").sum())})
        return pd.DataFrame(rows, columns=["dataset", "subject", "moved_to_test", "n_train", "n_test"])

    def close(self) -> Path:
        """Check completeness, finish the file and move it to its name; return its path."""
        if self._file is None:
            return self.path
        try:
            if self._pixels is None:
                raise BrainembedError(f"{self.path}: no images were written.")
            if not self._subjects:
                raise BrainembedError(f"{self.path}: no subjects were written.")
            ids = self.image_ids
            for s in self._subjects:
                if s.rows_written != s.n_images:
                    raise BrainembedError(f"subject {s.key}: {s.rows_written} of {s.n_images} response rows "
                                          "were written.")
                known = np.isin(s.image_ids, ids)
                if not known.all():
                    raise BrainembedError(f"subject {s.key}: image id {int(s.image_ids[~known][0])} "
                                          f"({int((~known).sum())} in all) is not in the image store.")
            self._images.create_dataset("ids", data=ids)
            meta = pd.concat(self._metadata, ignore_index=True) if self._metadata else pd.DataFrame()
            _write_frame(self._images.create_group("metadata"), meta)
            self._file.close()
            self._file = None
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written; nothing appears at ``path``."""
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
        if self._tmp.exists():
            self._tmp.unlink()


class _CopiedSubject:
    """A subject copied whole from another store into a :class:`CrowdWriter` (complete from the start)."""

    def __init__(self, key: str, group):
        self.key = key
        self.dataset, self.subject = str(group.attrs["dataset"]), str(group.attrs["subject"])
        self._group = group
        self.image_ids = group["image_ids"][()].astype(np.int64)
        self.split = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in group["split"][()]])
        self.n_images = self.rows_written = int(self.image_ids.shape[0])

    def set_split(self, split) -> None:
        self.split = np.asarray(split).astype(str)
        self._group["split"][...] = self.split.astype(object)


class SubjectWriter:
    """Appends one subject's response rows (and repeats) to a :class:`CrowdWriter`; see :meth:`write`."""

    def __init__(self, parent, dataset, subject, image_ids, split, voxels, n_repeats, field_strength, attrs, order):
        self.dataset, self.subject = dataset, subject
        self.image_ids = np.asarray(image_ids, dtype=np.int64)
        self.split = np.asarray(split).astype(str)
        self.voxels = voxels.reset_index(drop=True) if isinstance(voxels, pd.DataFrame) else voxels
        self.n_repeats = n_repeats
        self.field_strength = field_strength
        self.attrs = attrs
        self.order = order
        self.rows_written = 0
        self._check()

    @property
    def key(self) -> str:
        return subject_key(self.dataset, self.subject)

    @property
    def n_images(self) -> int:
        return int(self.image_ids.shape[0])

    @property
    def n_voxels(self) -> int:
        return int(len(self.voxels))

    def _check(self) -> None:
        from brainembed.data.containers import SPLITS, VOXEL_COLUMNS_REQUIRED

        who = f"subject {self.key}"
        if self.image_ids.ndim != 1 or self.image_ids.size == 0:
            raise BrainembedError(f"{who}: image_ids must be a non-empty array of shape (n_images,).")
        if self.split.shape != self.image_ids.shape:
            raise BrainembedError(f"{who}: split has {self.split.size} entries for {self.n_images} response rows.")
        bad = set(np.unique(self.split)) - set(SPLITS)
        if bad:
            raise BrainembedError(f"{who}: unknown split value(s) {sorted(bad)}; use 'train' or 'test'.")
        if not isinstance(self.voxels, pd.DataFrame) or len(self.voxels) == 0:
            raise BrainembedError(f"{who}: the voxel table must be a non-empty DataFrame.")
        missing = [c for c in VOXEL_COLUMNS_REQUIRED if c not in self.voxels.columns]
        if missing:
            raise BrainembedError(f"{who}: voxel table lacks required column(s) {missing}.")
        hemis = set(self.voxels["hemi"].astype(str).unique()) - {"lh", "rh", "none"}
        if hemis:
            raise BrainembedError(f"{who}: voxel hemisphere values {sorted(hemis)} are not 'lh', 'rh' or 'none'.")
        if self.n_repeats < 0:
            raise BrainembedError(f"{who}: n_repeats must be >= 0, got {self.n_repeats}.")

    def _create(self, subjects_group) -> None:
        h5py = _h5py()
        g = subjects_group.require_group(self.dataset).create_group(self.subject)
        g.attrs.update({"dataset": self.dataset, "subject": self.subject,
                        "field_strength": self.field_strength, "order": self.order,
                        "attrs": json.dumps(self.attrs, default=str)})
        shape = (self.n_images, self.n_voxels)
        chunk = _chunks(shape)
        self._responses = g.create_dataset("responses", shape=shape, dtype=np.float32, chunks=chunk)
        g.create_dataset("image_ids", data=self.image_ids)
        self._split = g.create_dataset("split", data=self.split.astype(object), dtype=h5py.string_dtype("utf-8"))
        self._repeats = None
        if self.n_repeats:
            self._repeats = g.create_dataset("repeats", shape=(self.n_images, self.n_repeats, self.n_voxels),
                                             dtype=np.float32, chunks=(chunk[0], self.n_repeats, chunk[1]))
        _write_frame(g.create_group("voxels"), self.voxels)

    def set_split(self, split) -> None:
        """Replace the subject's ``"train"``/``"test"`` labels (see :meth:`CrowdWriter.unify_test_images`)."""
        split = np.asarray(split).astype(str)
        if split.shape != self.split.shape:
            raise BrainembedError(f"subject {self.key}: a new split must have {self.n_images} entries.")
        self.split = split
        self._split[...] = split.astype(object)

    def write(self, responses, repeats=None) -> None:
        """Append the next response rows.

        Parameters
        ----------
        responses : array of shape (n_rows, n_voxels)
            Finite values (cast to float32).
        repeats : array of shape (n_rows, n_repeats, n_voxels), optional
            Required when the subject was created with ``n_repeats > 0``; NaN
            marks a missing repeat.
        """
        who = f"subject {self.key}"
        block = np.asarray(responses, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.n_voxels:
            raise BrainembedError(f"{who}: a response block must have shape (n_rows, {self.n_voxels}), "
                                  f"got {block.shape}.")
        stop = self.rows_written + block.shape[0]
        if stop > self.n_images:
            raise BrainembedError(f"{who}: more than the declared {self.n_images} response rows were written.")
        finite = np.isfinite(block)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise BrainembedError(f"{who}: responses contain NaN or infinite values (first at row "
                                  f"{self.rows_written + int(row)}, voxel {int(col)}); clean or drop them first.")
        if (repeats is None) != (self._repeats is None):
            raise BrainembedError(f"{who}: repeats must be given exactly when n_repeats > 0.")
        if repeats is not None:
            repeats = np.asarray(repeats, dtype=np.float32)
            if repeats.shape != (block.shape[0], self.n_repeats, self.n_voxels):
                raise BrainembedError(f"{who}: a repeats block must have shape ({block.shape[0]}, "
                                      f"{self.n_repeats}, {self.n_voxels}), got {repeats.shape}.")
            if np.isinf(repeats).any():
                raise BrainembedError(f"{who}: repeats contain infinite values.")
            self._repeats[self.rows_written:stop] = repeats
        self._responses[self.rows_written:stop] = block
        self.rows_written = stop
