"""The train/test split of a crowd of datasets: no image in training for one subject and in the test set for another.

Subjects of different datasets (and of one dataset) may see the same picture:
a crowd store keeps such a picture once, under one image id (the ``image_key``
rule of :func:`brainembed.pipeline.ingest.import_dataset`). If one subject
trained on it while another is tested on it, the encoder (whose image pathway
is shared by all subjects) has seen the test image: its test score leaks.

The rule
--------
**An image that is a test image for any subject is a test image for every
subject that saw it.** ``brainembed import`` (and ``--append``) applies it to
the whole store each time a dataset is added and prints how many rows moved
from training to test (:func:`unify_test_images`); a subject left with no
training image is refused. :func:`check_no_leakage` checks a crowd or a store
and is called when training starts, so a store that breaks the rule (written
by hand or by an older brainembed) stops training with one sentence naming the
first offending image.

Moving rows only ever shrinks training sets (a test image never becomes a
training image), so the datasets' own test sets (NSD's shared1000, GOD's test
images, ...) stay test sets.
"""

from __future__ import annotations

import numpy as np

from brainembed.errors import BrainembedError

__all__ = ["check_no_leakage", "leaking_image", "unify_test_images"]


def _test_ids(image_ids, splits) -> np.ndarray:
    tests = [np.asarray(i, dtype=np.int64)[np.asarray(s).astype(str) == "test"] for i, s in zip(image_ids, splits)]
    return np.unique(np.concatenate(tests)) if tests else np.zeros(0, np.int64)


def unify_test_images(image_ids, splits) -> tuple[list[np.ndarray], np.ndarray]:
    """Apply the rule of the module: an image tested for one subject is tested for all who saw it.

    Parameters
    ----------
    image_ids : sequence of arrays of shape (n_rows_s,), int
        Each subject's image ids (store ids, shared across subjects).
    splits : sequence of arrays of shape (n_rows_s,), str
        Each subject's ``"train"``/``"test"`` per row.

    Returns
    -------
    new_splits : list of arrays of shape (n_rows_s,), str
        The splits after the rule.
    moved : array of shape (n_subjects,), int64
        Rows moved from training to test, per subject.
    """
    test = _test_ids(image_ids, splits)
    new, moved = [], []
    for ids, split in zip(image_ids, splits):
        split = np.asarray(split).astype(str).copy()
        move = (split == "train") & np.isin(np.asarray(ids, dtype=np.int64), test)
        split[move] = "test"
        new.append(split)
        moved.append(int(move.sum()))
    return new, np.asarray(moved, dtype=np.int64)


def leaking_image(image_ids, splits, keys) -> tuple[int, str, str] | None:
    """The first image in training for one subject and in the test set for another, or None.

    Parameters
    ----------
    image_ids, splits : sequences of arrays, one per subject
        As in :func:`unify_test_images`.
    keys : sequence of str
        Subject keys, in the same order.

    Returns
    -------
    (image id, training subject, test subject), or None
        "First" in the order of subjects, then rows.
    """
    test = _test_ids(image_ids, splits)
    for ids, split, key in zip(image_ids, splits, keys):
        ids = np.asarray(ids, dtype=np.int64)
        bad = (np.asarray(split).astype(str) == "train") & np.isin(ids, test)
        if bad.any():
            image = int(ids[np.flatnonzero(bad)[0]])
            tested = next(k for i, s, k in zip(image_ids, splits, keys)
                          if np.any((np.asarray(i, dtype=np.int64) == image) & (np.asarray(s).astype(str) == "test")))
            return image, key, tested
    return None


def check_no_leakage(data) -> None:
    """Raise if an image is in training for one subject and in the test set for another.

    Parameters
    ----------
    data : Crowd, CrowdStore, or path of a crowd store
        For a store only the image ids and splits are read.

    Raises
    ------
    BrainembedError
        Naming the first offending image (with its ``image_key`` when known)
        and two subjects it joins.
    """
    from brainembed.data.containers import Crowd
    from brainembed.data.store import CrowdStore

    if isinstance(data, Crowd):
        keys = data.keys
        ids = [s.image_ids for s in data.subjects]
        splits = [s.split for s in data.subjects]
        meta = data.images.metadata
        all_ids = data.images.ids
        where = "the crowd"
    else:
        with (CrowdStore(data) if not isinstance(data, CrowdStore) else _Borrowed(data)) as store:
            keys = store.keys
            ids = [store.read_image_ids(k) for k in keys]
            splits = [store.read_split(k) for k in keys]
            meta = store.image_metadata()
            all_ids = store.read_all_image_ids()
            where = str(store.path)
    found = leaking_image(ids, splits, keys)
    if found is None:
        return
    image, trained, tested = found
    name = f"image {image}"
    if "image_key" in meta.columns:
        rows = np.flatnonzero(np.asarray(all_ids) == image)
        if rows.size and str(meta["image_key"].iloc[rows[0]]):
            name += f" ({meta['image_key'].iloc[rows[0]]})"
    raise BrainembedError(f"{name} of {where} is a training image of {trained} and a test image of {tested}; an "
                          "image tested for one subject must be tested for every subject that saw it (re-import "
                          "the datasets with brainembed import, which applies that rule).")


class _Borrowed:
    """An open store used in a ``with`` block without being closed at its end."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        return self.store

    def __exit__(self, *exc):
        return False
