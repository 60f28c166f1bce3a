"""Single trials staged on disk and read back one row per image (THINGS-fMRI, BOLD5000).

Datasets released as single trials (one response per presentation) are read
session by session, z-scored per voxel within each session, and written to a
temporary HDF5 file (the same staging the NSD reader uses). Rows are then
gathered by image: one row per image holding the **average of its repeats**,
the single trials kept as ``repeats`` (NaN-padded), so noise ceilings can be
estimated. Voxels with a NaN or infinite value in any session are dropped with
a :class:`~brainembed.errors.BrainembedWarning`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from brainembed.data.readers._base import warn_dropped, zscore_columns
from brainembed.errors import BrainembedError

__all__ = ["StagedTrials"]


class StagedTrials:
    """Z-scored single trials of one subject in a temporary HDF5 file, gathered by image.

    Parameters
    ----------
    n_trials, n_voxels : int
        Shape of the staged trials.
    where : str
        The subject, for messages (e.g. ``"THINGS sub-01"``).
    scratch : path, optional
        Folder for the temporary file (default: the system temp folder).

    Call :meth:`add_session` once per session (in staging order), then
    :meth:`group` with the image of every staged row; :meth:`read_rows` then
    returns blocks of image rows. :meth:`close` deletes the temporary file.
    """

    def __init__(self, n_trials: int, n_voxels: int, where: str, scratch=None):
        from brainembed.data.readers.nsd import _TrialStore

        self.where = where
        self.n_voxels = int(n_voxels)
        self._store = _TrialStore(Path(tempfile.mkdtemp(prefix="brainembed-trials-", dir=scratch)),
                                  int(n_trials), self.n_voxels)
        self._row = 0
        self._bad = np.zeros(self.n_voxels, dtype=bool)
        self.keep = None

    def add_session(self, trials: np.ndarray, zscore: bool) -> None:
        """Append one session's trials, array of shape (n_session_trials, n_voxels)."""
        trials = np.asarray(trials, dtype=np.float32)
        if trials.ndim != 2 or trials.shape[1] != self.n_voxels:
            raise BrainembedError(f"{self.where}: a session must have shape (n_trials, {self.n_voxels}), "
                                  f"got {trials.shape}.")
        bad = ~np.isfinite(trials).all(axis=0)
        self._bad |= bad
        if zscore:
            trials, _, _ = zscore_columns(np.where(bad, 0.0, trials).astype(np.float32))
        self._store.trials[self._row:self._row + trials.shape[0]] = trials
        self._row += trials.shape[0]

    def group(self, image_pos: np.ndarray, n_images: int) -> int:
        """Group the staged rows by image; ``image_pos[k]`` is the image row of staged row ``k``.

        Returns the number of repeats (the most presentations of one image).
        """
        image_pos = np.asarray(image_pos, dtype=np.int64)
        if image_pos.size != self._row:
            raise BrainembedError(f"{self.where}: {image_pos.size} trial images for {self._row} staged trials.")
        self.keep = ~self._bad
        if not self.keep.any():
            raise BrainembedError(f"{self.where}: every voxel has NaN or infinite values.")
        warn_dropped(int(self._bad.sum()), self.n_voxels, self.where)
        counts = np.bincount(image_pos, minlength=n_images)
        if (counts == 0).any():
            raise BrainembedError(f"{self.where}: image row {int(np.flatnonzero(counts == 0)[0])} has no trial.")
        self._order = np.argsort(image_pos, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._rep = np.empty(image_pos.size, np.int64)
        self._rep[self._order] = np.arange(image_pos.size) - np.repeat(starts, counts)
        self._bounds = np.concatenate([starts, [image_pos.size]])
        self._image_pos = image_pos
        self.n_repeats = int(counts.max())
        return self.n_repeats

    def gather(self, start: int, stop: int) -> np.ndarray:
        """Single trials of image rows ``start:stop``, array of shape (stop - start, n_repeats, n_kept), NaN-padded."""
        rows = self._order[self._bounds[start]:self._bounds[stop]]
        reps = self._store.gather(rows, self.n_repeats, self._rep[rows], self._image_pos[rows] - start,
                                  stop - start)
        return reps[:, :, self.keep]

    def read_rows(self, start: int, stop: int, repeats: bool = True):
        """``(responses, repeats)`` of image rows ``start:stop``: repeat averages and the single trials (or None)."""
        from brainembed.data.readers.nsd import _repeat_average

        reps = self.gather(start, stop)
        return _repeat_average(reps), (reps if repeats else None)

    def ncsnr(self, n_images: int) -> np.ndarray:
        """NSD ncsnr of every kept voxel from the staged repeats (0 where no image was repeated)."""
        from brainembed.data.readers.nsd import _ncsnr

        n_kept = int(self.keep.sum())
        if self.n_repeats < 2:
            return np.zeros(n_kept)
        block = max(1, min(256, (1 << 26) // max(1, self.n_repeats * n_kept * 4)))
        return _ncsnr(self.gather, n_images, n_kept, block=block)

    def close(self) -> None:
        self._store.close()
