"""``brainembed import``: real datasets → one crowd store, streamed with bounded memory.

The store is the one the simulator writes (:mod:`brainembed.data.store`), so
``train``, ``evaluate``, ``cluster``... work unchanged on real data. Responses
and images are read and written block by block (:class:`~brainembed.data.store.CrowdWriter`),
so importing an NSD subject (~10k images × ~40k vertices, 1.5 GB of float32)
needs a few hundred MB of memory. The store appears only once complete; on
any error nothing is left behind or overwritten. Beside ``crowd.h5`` the
resolved options are saved as ``import.json``.

A crowd of datasets
-------------------
``append=True`` (``brainembed import --append``) adds a dataset to an existing
store: the store is copied into a temporary file beside it, the dataset is
added there, and the temporary file replaces the store only when all went
well, so a failed append leaves the store as it was, byte for byte.

**Image identity.** Every image carries an ``image_key`` (metadata column,
e.g. ``coco:532481``, ``imagenet:n01440764_10026``; readers build them with
:func:`brainembed.data.readers._base.image_key`; a reader that gives none gets
``<format>:<its id>``). Images with the same key are one image: stored once,
under one store id, and every subject that saw it refers to that id. A new
image keeps the reader's id when none of the dataset's new images' ids is
taken in the store; otherwise the dataset's new images are numbered on from
the largest id in the store, in the reader's order. The pixels kept for a
shared image are those of the dataset that brought it first. Stores written
before image keys existed cannot take an appended dataset (their images could
not be matched): import their datasets again.

**No leakage.** After each import the rule of :mod:`brainembed.data.splits`
is applied to the whole store: an image that is a test image for any subject
becomes a test image for every subject that saw it; the rows moved are counted
in the result (``moved``) and printed by the command line.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path

import numpy as np

from brainembed.errors import BrainembedError

__all__ = ["import_dataset"]

#: Rows (images) per block written to the store.
BLOCK_ROWS = 256


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img")


def _source_keys(images, format: str) -> np.ndarray:
    """The ``image_key`` of each image of a source (``<format>:<id>`` where the reader gives none)."""
    from brainembed.data.readers._base import image_key

    meta = images.metadata
    given = meta["image_key"].to_numpy(dtype=object) if "image_key" in meta.columns else \
        np.full(len(images), None, dtype=object)
    keys = np.array([k if isinstance(k, str) and k else image_key(format, int(i))
                     for k, i in zip(given, images.ids)], dtype=object)
    uniq, first, counts = np.unique(keys.astype(str), return_index=True, return_counts=True)
    if (counts > 1).any():
        key = uniq[np.flatnonzero(counts > 1)[0]]
        twice = images.ids[keys.astype(str) == key][:2]
        raise BrainembedError(f"the {format} dataset gives image key {key} to two images (ids {int(twice[0])} and "
                              f"{int(twice[1])}); an image key names one image.")
    return keys


def _store_ids(images, keys: np.ndarray, writer) -> tuple[np.ndarray, np.ndarray]:
    """Store id of each source image and which of them are new to the store (module rule)."""
    known = writer.image_key_ids
    new = np.array([k not in known for k in keys], dtype=bool)
    ids = np.empty(len(keys), dtype=np.int64)
    ids[~new] = [known[k] for k in keys[~new]]
    local = images.ids[new]
    taken = writer.image_ids
    if taken.size and np.isin(local, taken).any():
        ids[new] = int(taken.max()) + 1 + np.arange(int(new.sum()))
    else:
        ids[new] = local
    return ids, new


def _write_source(source, writer, format: str, block_rows: int, progress: bool) -> None:
    images = source.images
    keys = _source_keys(images, format)
    ids, new = _store_ids(images, keys, writer)
    meta = images.metadata.assign(image_key=keys)
    positions = np.flatnonzero(new)
    with _progress(progress, len(positions), "images") as bar:
        for start in range(0, len(positions), block_rows):
            pos = positions[start:start + block_rows]
            writer.add_images(images.load(pos), ids[pos], meta.iloc[pos].reset_index(drop=True))
            bar.update(len(pos))
    to_store = dict(zip(images.ids.tolist(), ids.tolist()))
    for s in source.subjects:
        unknown = [int(i) for i in s.image_ids if int(i) not in to_store]
        if unknown:
            raise BrainembedError(f"subject {s.key}: image id {unknown[0]} ({len(unknown)} in all) is not among the "
                                  f"{format} dataset's images.")
        sub = writer.add_subject(s.dataset, s.subject, image_ids=[to_store[int(i)] for i in s.image_ids],
                                 split=s.split, voxels=s.voxels, n_repeats=s.n_repeats,
                                 field_strength=s.field_strength, attrs=s.attrs)
        with _progress(progress, s.n_images, f"{s.key} responses") as bar:
            for responses, repeats in s.blocks(block_rows):
                sub.write(responses, repeats)
                bar.update(responses.shape[0])


def _calls(spec, subjects, options: dict) -> list[dict]:
    """Keyword arguments of each opening of the source, by the format's subject mode."""
    if spec.subjects == "one":
        names = list(subjects) if subjects else ([options.pop("subject")] if "subject" in options else [None])
        return [dict(options, **({} if s is None else {"subject": s})) for s in names]
    if spec.subjects == "single":
        if subjects and len(subjects) > 1:
            raise BrainembedError(f"the {spec.name} format holds one subject; give at most one --subjects value.")
        return [dict(options, **({"subject": str(subjects[0])} if subjects else {}))]
    return [dict(options, **({"subjects": list(subjects)} if subjects else {}))]


def _check_append_target(store_path: Path):
    """The existing store's subject keys and image size; one sentence if it cannot take a dataset."""
    from brainembed.data.store import CrowdStore

    if not store_path.exists():
        raise BrainembedError(f"no crowd store at {store_path} to append to; leave out --append to create one.")
    with CrowdStore(store_path) as store:
        meta = store.image_metadata()
        if "image_key" not in meta.columns or (meta["image_key"].astype(str) == "").any():
            raise BrainembedError(f"{store_path} was written without image keys (before brainembed knew them, or "
                                  "by the simulator), so its images cannot be matched; import its datasets again "
                                  "into a new store to append to it.")
        return list(store.keys), store.image_size


def _write_json(path: Path, record) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def import_dataset(format: str, src, out, *, overwrite: bool = False, append: bool = False, subjects=None,
                   progress: bool = False, block_rows: int = BLOCK_ROWS, **options) -> dict:
    """Import a real dataset into a crowd store, or add it to one.

    Parameters
    ----------
    format : str
        A registered format (:data:`brainembed.data.readers.FORMATS`).
    src : path
        Dataset location (folder or file, per format).
    out : path
        Output folder (``crowd.h5`` is written there) or ``.h5`` file.
    overwrite : bool
        Replace an existing store.
    append : bool
        Add the dataset to the existing store at ``out`` (module docstring):
        shared images (same ``image_key``) are stored once, and a subject
        already in the store is refused.
    subjects : list, optional
        Subjects to import (default: all the source holds; for a format read
        one subject at a time, such as ``nsd``, each is imported in turn).
    progress : bool
        Show progress bars.
    block_rows : int
        Images per block read and written (memory ~ block_rows × n_voxels × 4 B
        × (1 + n_repeats)).
    **options
        Options of the format's reader, e.g. ``images=`` (GOD), ``test_ids=``
        (Algonauts), ``snr_top_k=`` (vim-1), ``sessions=``/``space=`` (NSD).

    Returns
    -------
    dict
        ``path`` (the store), ``summary`` (DataFrame, one row per subject),
        ``moved`` (DataFrame: rows moved from training to test per subject by
        the split rule of :mod:`brainembed.data.splits`), ``seconds``.
    """
    from brainembed.data.readers import format_spec, open_dataset
    from brainembed.data.store import CrowdStore, CrowdWriter, store_file

    spec = format_spec(format)
    if int(block_rows) < 1:
        raise BrainembedError(f"block_rows must be a positive integer, got {block_rows!r}.")
    if append and overwrite:
        raise BrainembedError("--append adds to a store and --overwrite replaces it; give one of them.")
    store_path = store_file(out)
    existing, image_size = [], None
    if append:
        existing, image_size = _check_append_target(store_path)
    elif store_path.exists() and not overwrite:
        raise BrainembedError(f"{store_path} already exists; choose another output, pass overwrite=True "
                              "(--overwrite) or add to it with append=True (--append).")
    if not Path(src).exists():
        raise BrainembedError(f"dataset source {src} does not exist.")
    start = time.perf_counter()
    calls = _calls(spec, subjects, dict(options))
    accepted = inspect.signature(spec.open_function()).parameters
    record = {"format": format, "src": str(Path(src).resolve()), "subjects": None if subjects is None else
              [str(s) for s in subjects], "block_rows": int(block_rows),
              "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()}}
    attrs = {"source_format": format, "source": str(src)}
    if append:
        with CrowdStore(store_path) as store:
            attrs = dict(store.attrs)
    attrs["imports"] = list(attrs.get("imports", [])) + [{"format": format, "source": str(src)}]
    store_path.parent.mkdir(parents=True, exist_ok=True)
    with CrowdWriter(store_path, overwrite=overwrite or append, attrs=attrs) as writer:
        for n, kwargs in enumerate(calls):
            if "scratch" in accepted:
                kwargs.setdefault("scratch", str(store_path.parent))
            if "progress" in accepted:
                kwargs.setdefault("progress", progress)
            with open_dataset(format, src, **kwargs) as source:
                # checked before the store is copied: a refused append costs no copy
                taken = [s.key for s in source.subjects if s.key in writer.subject_keys + existing]
                if taken:
                    raise BrainembedError(f"subject {taken[0]} is already in {store_path}; import it under another "
                                          "dataset name (--dataset NAME) or into another store.")
                size = image_size if append and n == 0 else writer.image_size
                if size is not None and len(source.images):
                    new = tuple(source.images.load(np.array([0])).shape[1:3])
                    if new != tuple(size):
                        raise BrainembedError(f"the {format} images are {new[0]}x{new[1]} pixels but the store's "
                                              f"are {size[0]}x{size[1]}; import them with --image-size {size[0]} "
                                              "(square images) or into another store.")
                if append and n == 0:
                    with CrowdStore(store_path) as store:
                        writer.copy_store(store, int(block_rows))
                _write_source(source, writer, format, int(block_rows), progress)
        moved = writer.unify_test_images()
    json_path = store_path.parent / "import.json"
    if append and json_path.is_file():
        try:
            previous = json.loads(json_path.read_text())
        except ValueError:
            previous = {}
        if isinstance(previous, dict):
            previous.setdefault("appended", []).append(record)
            record = previous
    _write_json(json_path, record)
    with CrowdStore(store_path) as store:
        summary = store.summary()
    return {"path": store_path, "summary": summary, "moved": moved, "seconds": time.perf_counter() - start}
