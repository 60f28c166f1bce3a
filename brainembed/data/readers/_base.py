"""Building blocks shared by the readers: lazy sources, image preparation, MATLAB files.

A reader opens a dataset as a :class:`DatasetSource`: descriptors (image ids,
splits, voxel tables) are read at once, while responses and pixels are read
block by block only when asked for. :meth:`DatasetSource.to_crowd` loads
everything into a :class:`~brainembed.data.Crowd` (small datasets, Jupyter);
:func:`brainembed.pipeline.ingest.import_dataset` streams the blocks into a
crowd store with bounded memory (NSD-sized subjects).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.data.containers import Crowd, ImageStore, SubjectData
from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError, BrainembedWarning

#: Images whose larger side exceeds this many pixels are resized (see :func:`prepare_image`).
MAX_NATIVE_SIZE = 256
#: Side of the square images stored when resizing is needed (the backbones' input size).
DEFAULT_IMAGE_SIZE = 224
#: Rows per block when streaming responses.
BLOCK_ROWS = 256

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")


# --------------------------------------------------------------------------- image identity
#: Image metadata column naming an image independently of the dataset that showed it.
IMAGE_KEY = "image_key"
#: MS-COCO images, named by their integer COCO image id (``coco:532481``).
COCO = "coco"
#: ImageNet images, named by their file stem (``imagenet:n01440764_10026``).
IMAGENET = "imagenet"
#: THINGS images, named by their file stem (``things:aardvark_01b``).
THINGS = "things"
#: BOLD5000's scene images, named by their file stem.
SCENE = "scene"
#: NSD's 73k images, named by their 0-based 73k id, where the COCO id is not known (``nsd:12``).
NSD = "nsd"


def image_key(namespace: str, name) -> str:
    """The dataset-independent key of one image: ``"<namespace>:<name>"``.

    Two readers that give an image the same key say it is the same picture;
    a crowd store keeps it once, under one store id (see
    :func:`brainembed.pipeline.ingest.import_dataset`). Use the namespace
    constants of this module (:data:`COCO`, :data:`IMAGENET`, :data:`THINGS`,
    :data:`SCENE`, :data:`NSD`) where the image comes from such a set, else
    the format's name with the dataset-local id (``"vim1:17"``).

    Parameters
    ----------
    namespace : str
        Where the name is unique (no ``":"``).
    name : str or int
        The image's name there; integers are written without leading zeros.

    Returns
    -------
    str
    """
    namespace = str(namespace)
    if not namespace or ":" in namespace:
        raise BrainembedError(f"image key namespace {namespace!r} must be non-empty and hold no ':'.")
    if isinstance(name, (int, np.integer)):
        name = str(int(name))
    name = str(name).strip()
    if not name:
        raise BrainembedError(f"image key in namespace {namespace!r} needs a non-empty name.")
    return f"{namespace}:{name}"


#: A COCO file stem: ``COCO_train2014_000000391895`` (BOLD5000, NSD's stimuli) or the bare 12 digits.
_COCO_STEM = re.compile(r"^(?:COCO_(?:train|val)2014_(\d+)|(\d{12}))$")
#: An ImageNet file stem: ``n01440764_10026``.
_IMAGENET_STEM = re.compile(r"^n(\d{8})_(\d+)$")


def stimulus_image(stem: str) -> tuple[int, str] | None:
    """``(image id, image_key)`` of a COCO or ImageNet file stem, or None for any other name.

    COCO images get their COCO id; ImageNet images GOD's id,
    ``synset * 1_000_000 + number``; so the same picture has the same id and
    key in every reader.

    >>> stimulus_image("n01440764_10026")
    (1440764010026, 'imagenet:n01440764_10026')
    >>> stimulus_image("COCO_train2014_000000391895")
    (391895, 'coco:391895')
    >>> stimulus_image("000000007665")
    (7665, 'coco:7665')
    """
    stem = str(stem).strip()
    if m := _IMAGENET_STEM.match(stem):
        return int(m.group(1)) * 1_000_000 + int(m.group(2)), image_key(IMAGENET, stem)
    if m := _COCO_STEM.match(stem):
        coco = int(m.group(1) or m.group(2))
        return coco, image_key(COCO, coco)
    return None


def key_id(key: str) -> int:
    """A stable dataset-local int64 id for an image known only by its key: 62 bits of BLAKE2b of ``key``.

    The same key gives the same id in every import (whichever subjects or
    sessions were read); two keys collide with probability about
    ``n**2 / 2**63`` (about 1e-11 for 10,000 images).
    """
    digest = hashlib.blake2b(str(key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2


def image_keys(namespace: str, names) -> np.ndarray:
    """:func:`image_key` of every name, array of shape (n_images,) of str (object dtype)."""
    return np.array([image_key(namespace, n) for n in np.asarray(names).ravel()], dtype=object)


# --------------------------------------------------------------------------- sources
@dataclass
class ImageSource:
    """Images of a dataset, read lazily.

    Parameters
    ----------
    ids : array of shape (n_images,), int64
        Unique image ids.
    load : callable
        ``load(positions)`` returns the pixels of ``ids[positions]``, an array
        of shape (len(positions), height, width, 3), uint8.
    metadata : DataFrame with n_images rows
        Per-image descriptors.
    """

    ids: np.ndarray
    load: Callable[[np.ndarray], np.ndarray]
    metadata: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self):
        self.ids = np.asarray(self.ids, dtype=np.int64)
        if len(np.unique(self.ids)) != len(self.ids):
            raise BrainembedError("image ids must be unique; the dataset lists an image twice.")
        if self.metadata is None or len(self.metadata.columns) == 0:
            self.metadata = pd.DataFrame(index=range(len(self.ids)))
        self.metadata = self.metadata.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.ids)

    def blocks(self, size: int = BLOCK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray, pd.DataFrame]]:
        """Yield ``(ids, pixels, metadata)`` for consecutive blocks of at most ``size`` images."""
        for start in range(0, len(self.ids), size):
            pos = np.arange(start, min(start + size, len(self.ids)))
            yield self.ids[pos], self.load(pos), self.metadata.iloc[pos].reset_index(drop=True)

    def to_store(self) -> ImageStore:
        """All images in memory."""
        return ImageStore(self.load(np.arange(len(self.ids))), self.ids, self.metadata)


@dataclass
class SubjectSource:
    """One subject of a dataset whose responses are read lazily.

    Parameters
    ----------
    dataset, subject : str
        Names; the subject's key is ``"<dataset>:<subject>"``.
    image_ids : array of shape (n_images,), int64
        Image behind each response row.
    split : array of shape (n_images,), str
        ``"train"`` or ``"test"`` per row.
    voxels : DataFrame with n_voxels rows
        Per-voxel descriptors (``hemi`` required).
    read_rows : callable
        ``read_rows(start, stop)`` returns ``(responses, repeats)`` for rows
        ``start:stop``: responses of shape (stop - start, n_voxels), float32,
        and repeats of shape (stop - start, n_repeats, n_voxels) or None.
    n_repeats : int
        Second axis of the repeats (0 when the dataset has none).
    field_strength : float
        Tesla.
    attrs : dict
        Scalar attributes (preprocessing applied, source format, ...).
    """

    dataset: str
    subject: str
    image_ids: np.ndarray
    split: np.ndarray
    voxels: pd.DataFrame
    read_rows: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]]
    n_repeats: int = 0
    field_strength: float = 0.0
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        self.image_ids = np.asarray(self.image_ids, dtype=np.int64)
        self.split = np.asarray(self.split).astype(str)
        self.voxels = self.voxels.reset_index(drop=True)

    @property
    def key(self) -> str:
        return subject_key(self.dataset, self.subject)

    @property
    def n_images(self) -> int:
        return int(len(self.image_ids))

    @property
    def n_voxels(self) -> int:
        return int(len(self.voxels))

    def blocks(self, rows: int = BLOCK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(responses, repeats)`` for consecutive blocks of at most ``rows`` rows."""
        for start in range(0, self.n_images, rows):
            yield self.read_rows(start, min(start + rows, self.n_images))

    def to_subject(self) -> SubjectData:
        """The whole subject in memory (validated)."""
        parts = list(self.blocks())
        responses = np.concatenate([p[0] for p in parts])
        repeats = np.concatenate([p[1] for p in parts]) if self.n_repeats else None
        return SubjectData(self.dataset, self.subject, responses, self.image_ids, self.split, self.voxels,
                           repeats=repeats, field_strength=self.field_strength, attrs=dict(self.attrs))


@dataclass
class DatasetSource:
    """Subjects and images of one dataset, read lazily; see :func:`brainembed.data.readers.open_dataset`.

    Use as a context manager (or call :meth:`close`) so that open files and
    temporary files are released.
    """

    subjects: list[SubjectSource]
    images: ImageSource
    attrs: dict = field(default_factory=dict)
    cleanup: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        while self.cleanup:
            self.cleanup.pop()()

    def to_crowd(self) -> Crowd:
        """Everything in memory: a validated :class:`~brainembed.data.Crowd`."""
        return Crowd([s.to_subject() for s in self.subjects], self.images.to_store(), dict(self.attrs))


# --------------------------------------------------------------------------- files and checks
def require_file(path: Path, what: str = "") -> Path:
    """``path`` if it is a file, else a :class:`BrainembedError` naming it."""
    path = Path(path)
    if not path.is_file():
        extra = f" ({what})" if what else ""
        raise BrainembedError(f"missing file {path}{extra}.")
    return path


def require_dir(path: Path, what: str = "") -> Path:
    """``path`` if it is a folder, else a :class:`BrainembedError` naming it."""
    path = Path(path)
    if not path.is_dir():
        extra = f" ({what})" if what else ""
        raise BrainembedError(f"missing folder {path}{extra}.")
    return path


def check_finite_columns(block: np.ndarray, where: str, first_column: int = 0) -> None:
    """Raise naming ``where`` and the first voxel column with NaN/Inf in a (rows, voxels) block."""
    bad = ~np.isfinite(block)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0)) + first_column
        raise BrainembedError(f"{where} has NaN or infinite values in {cols.size} column(s) (first: column "
                              f"{int(cols[0])}); fix or drop those voxels.")


def nan_columns(array: np.ndarray, axis_voxels: int = -1) -> np.ndarray:
    """Boolean mask of the voxels (along ``axis_voxels``) holding any non-finite value."""
    array = np.moveaxis(np.asarray(array), axis_voxels, -1)
    return ~np.isfinite(array.reshape(-1, array.shape[-1])).all(axis=0)


def warn_dropped(n_dropped: int, n_total: int, where: str) -> None:
    if n_dropped:
        warnings.warn(f"{where}: dropped {n_dropped} of {n_total} voxels with NaN or infinite values.",
                      BrainembedWarning, stacklevel=3)


def zscore_columns(block: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None):
    """Z-score columns of a (rows, voxels) block, float32; constant columns become 0.

    Returns ``(zscored, mean, std)``; pass ``mean``/``std`` to apply the same
    transform to other rows (e.g. single-trial repeats).
    """
    block = np.asarray(block, dtype=np.float32)
    if mean is None:
        mean = block.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = block.std(axis=0, dtype=np.float64).astype(np.float32)
    safe = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, np.inf).astype(np.float32)
    return (block - mean) / safe, mean, std


class NpyRows:
    """Row blocks of a 2-D ``.npy`` file read with plain file reads (no memory map).

    A memory map would leave every page it touched resident (and counted in
    the process's memory) until the kernel evicts it; reading blocks keeps the
    memory of a streamed import at one block. Pickled (object) arrays are
    refused. Fortran-ordered files fall back to a memory map.

    Attributes
    ----------
    shape : tuple of int
    dtype : numpy dtype
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        try:  # the header only: a memory map that is never touched costs no memory
            header = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except ValueError as err:  # pickled objects or a malformed header
            raise BrainembedError(f"{self.path} is not a plain numeric .npy array ({err}).") from None
        except OSError as err:
            raise BrainembedError(f"{self.path} could not be read ({err}).") from None
        shape, dtype, offset = header.shape, header.dtype, header.offset
        fortran = header.ndim > 1 and not header.flags.c_contiguous
        del header
        self.shape, self.dtype, self.fortran, self.offset = tuple(shape), dtype, fortran, int(offset)
        self.ndim = len(self.shape)
        expected = self.offset + int(np.prod(self.shape)) * dtype.itemsize
        if self.path.stat().st_size < expected:
            raise BrainembedError(f"{self.path} is truncated ({self.path.stat().st_size} of {expected} bytes).")

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, step = rows.indices(self.shape[0])
        if step != 1 or self.ndim != 2:
            raise IndexError("NpyRows reads contiguous row slices of 2-D arrays only")
        if self.fortran:
            return np.array(np.load(self.path, mmap_mode="r")[start:stop])
        n_cols = self.shape[1]
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + start * n_cols * self.dtype.itemsize)
            block = np.fromfile(fh, dtype=self.dtype, count=max(stop - start, 0) * n_cols)
        return block.reshape(max(stop - start, 0), n_cols)


# --------------------------------------------------------------------------- images
def target_size(sizes: list[tuple[int, int]], image_size: int | None) -> tuple[int, int] | None:
    """The (height, width) every image of a dataset is stored at.

    Parameters
    ----------
    sizes : list of (height, width)
        Native sizes of the dataset's images (a sample is enough).
    image_size : int or None
        A side requested by the user (square images), or None for the rule:
        native size when all images share one size with both sides at most
        :data:`MAX_NATIVE_SIZE`, else :data:`DEFAULT_IMAGE_SIZE` square.

    Returns
    -------
    (height, width), or None for "keep native size".
    """
    if image_size is not None:
        if int(image_size) != image_size or image_size < 1:
            raise BrainembedError(f"image_size must be a positive integer, got {image_size!r}.")
        return int(image_size), int(image_size)
    unique = set(sizes)
    if len(unique) == 1 and max(next(iter(unique))) <= MAX_NATIVE_SIZE:
        return None
    return DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE


def to_rgb_uint8(array: np.ndarray, where: str = "image") -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 → (H, W, 3) uint8 (greyscale repeated)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise BrainembedError(f"{where} must be uint8, got {array.dtype}.")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise BrainembedError(f"{where} must have shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}.")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def resize_array(array: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize (bicubic, antialiased) an (H, W, 3) uint8 image."""
    if size is None or tuple(array.shape[:2]) == tuple(size):
        return array
    from PIL import Image

    th, tw = size
    h, w = array.shape[:2]
    if h * tw != w * th:  # crop the longer side around the centre
        if h * tw > w * th:
            new_h = max(1, round(w * th / tw))
            top = (h - new_h) // 2
            array = array[top:top + new_h]
        else:
            new_w = max(1, round(h * tw / th))
            left = (w - new_w) // 2
            array = array[:, left:left + new_w]
    return np.asarray(Image.fromarray(array).resize((tw, th), Image.BICUBIC), dtype=np.uint8)


def read_image_file(path: Path) -> np.ndarray:
    """One image file as an (H, W, 3) uint8 array (greyscale repeated, alpha dropped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise BrainembedError(f"image file {path} could not be read ({err}).") from None


def image_file_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except (UnidentifiedImageError, OSError) as err:
        raise BrainembedError(f"image file {path} could not be read ({err}).") from None


def find_image_files(folder: Path, stems) -> dict[str, Path]:
    """Image files under ``folder`` (searched recursively) whose stem is one of ``stems``: stem -> first path found."""
    stems = set(stems)
    found = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.stem in stems and p.is_file():
            found.setdefault(p.stem, p)
    return found


def file_image_source(ids, files, image_size=None, metadata=None) -> ImageSource:
    """An :class:`ImageSource` over image files, resized by the rule of :func:`target_size`.

    The size rule looks at every file's header (cheap: PIL reads only the header).
    """
    files = [Path(f) for f in files]
    size = target_size([image_file_size(f) for f in files], image_size)

    def load(positions):
        if len(positions) == 0:
            return np.zeros((0,) + (size or image_file_size(files[0])) + (3,), np.uint8)
        return np.stack([resize_array(read_image_file(files[int(p)]), size) for p in positions])

    return ImageSource(np.asarray(ids, dtype=np.int64), load, metadata if metadata is not None else pd.DataFrame())


def array_image_source(ids, pixels, image_size=None, metadata=None, where="images") -> ImageSource:
    """An :class:`ImageSource` over an in-memory array of shape (n, H, W), (n, H, W, 3) uint8."""
    pixels = np.asarray(pixels)
    if pixels.ndim not in (3, 4):
        raise BrainembedError(f"{where} must have shape (n, H, W) or (n, H, W, 3), got {pixels.shape}.")
    size = target_size([tuple(pixels.shape[1:3])], image_size)

    def load(positions):
        return np.stack([resize_array(to_rgb_uint8(pixels[int(p)], where), size) for p in positions]) \
            if len(positions) else np.zeros((0,) + (size or pixels.shape[1:3]) + (3,), np.uint8)

    return ImageSource(np.asarray(ids, dtype=np.int64), load, metadata if metadata is not None else pd.DataFrame())


def greyscale_to_uint8(stack: np.ndarray, where: str) -> np.ndarray:
    """Floating-point greyscale images → uint8 by a documented, global rule.

    Values already in [0, 255] with integer type are kept; floats in [0, 1] are
    scaled by 255; anything else is mapped linearly from the stack's global
    [min, max] to [0, 255] (one transform for all images, so relative contrast
    between images is preserved).
    """
    stack = np.asarray(stack)
    if stack.dtype == np.uint8:
        return stack
    if not np.all(np.isfinite(stack)):
        raise BrainembedError(f"{where} contains NaN or infinite pixel values.")
    lo, hi = float(stack.min()), float(stack.max())
    if stack.dtype.kind in "iu" and lo >= 0 and hi <= 255:
        return stack.astype(np.uint8)
    if lo >= 0.0 and hi <= 1.0:
        scaled = stack * 255.0
    elif hi > lo:
        scaled = (stack - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(stack, dtype=np.float64)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- MATLAB files
def is_hdf5(path: Path) -> bool:
    """Whether a file is HDF5 (as MATLAB v7.3 .mat files are; they may start with a 512-byte header)."""
    import h5py

    try:
        return bool(h5py.is_hdf5(str(path)))
    except OSError:
        return False


class MatFile:
    """Read variables from a MATLAB .mat file, v5 (scipy) or v7.3 (HDF5, via h5py), with MATLAB's shapes.

    MATLAB v7.3 files store arrays column-major, so h5py sees every array with
    its axes reversed; :meth:`get` reverses them back, so both versions give the
    shape MATLAB shows. Use :meth:`shape` to check a large variable without
    reading it, and :meth:`read_columns` to read a subset of the last MATLAB
    axis of a v7.3 variable without loading all of it.
    """

    def __init__(self, path: Path):
        self.path = require_file(Path(path))
        self.v73 = is_hdf5(self.path)
        self._h5 = None
        self._v5 = None
        if self.v73:
            import h5py

            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError as err:
                raise BrainembedError(f"{self.path} is not a readable MATLAB v7.3 file ({err}).") from None
        else:
            from scipy.io import loadmat

            try:
                self._v5 = loadmat(str(self.path))
            except Exception as err:  # scipy raises several types for damaged files
                raise BrainembedError(f"{self.path} is not a readable MATLAB .mat file ({err}).") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def keys(self) -> list[str]:
        if self.v73:
            return [k for k in self._h5.keys() if not k.startswith("#")]
        return [k for k in self._v5 if not k.startswith("__")]

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def _require(self, key):
        if key not in self.keys():
            raise BrainembedError(f"{self.path} has no variable {key!r} (it has {', '.join(sorted(self.keys()))}).")

    def shape(self, key) -> tuple[int, ...]:
        """MATLAB shape of a variable, read from metadata only (v7.3)."""
        self._require(key)
        if self.v73:
            return tuple(reversed(self._h5[key].shape))
        return tuple(np.shape(self._v5[key]))

    def get(self, key) -> np.ndarray:
        """A numeric variable with MATLAB's axis order."""
        self._require(key)
        if self.v73:
            ds = self._h5[key]
            if not hasattr(ds, "shape"):
                raise BrainembedError(f"{self.path}: variable {key!r} is not a numeric array.")
            return np.asarray(ds[()]).transpose()
        return np.asarray(self._v5[key])

    def dataset(self, key):
        """The raw h5py dataset of a v7.3 variable (axes reversed with respect to MATLAB)."""
        self._require(key)
        return self._h5[key]
