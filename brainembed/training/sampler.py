"""Batches from the union of all subjects' training images.

Two ways to make a batch (``TrainConfig.sampling``):

- ``"images"`` (:class:`CrowdBatchSampler`, the released code): images drawn
  from every subject's training set together; for each image, voxel indices
  are drawn with replacement from the subject who saw it.
- ``"subjects"`` (:class:`SubjectBlockSampler`): each batch holds images of
  one subject and *all* of that subject's voxels, so an epoch trains on every
  (training image, voxel) pair exactly once.

Every random choice is a pure function of ``(seed, epoch, step)``, so a run
resumed in the middle of an epoch sees exactly the batches it would have
seen, and DDP ranks agree on the whole batch before each takes its share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainembed.data import Crowd
from brainembed.errors import BrainembedError


@dataclass
class Batch:
    """One training batch (or one rank's share of it).

    Attributes
    ----------
    image_ids : array of shape (n_images,), int64
        Ids into the crowd's image store.
    voxel_index : array of shape (n_images, V) or (V,), int64
        Global voxel indices (rows of the embedding table), per image or
        shared by every image of the batch.
    targets : array of shape (n_images, V), float32
        Measured responses of those voxels to those images.
    shifts : array of shape (n_images, 2), int64
        Augmentation shift (dy, dx) in pixels of each image.
    seed : int
        Seed for this batch's dropout masks.
    """

    image_ids: np.ndarray
    voxel_index: np.ndarray
    targets: np.ndarray
    shifts: np.ndarray
    seed: int


def split_validation(crowd: Crowd, fraction: float, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Hold out a share of every subject's training rows for validation.

    Parameters
    ----------
    crowd : Crowd
    fraction : float
        Share of each subject's training images held out (at least one image
        when ``fraction > 0``).
    seed : int

    Returns
    -------
    dict subject key -> (train_rows, validation_rows), row indices into the
    subject's responses. Test rows are never used.
    """
    if not 0 <= fraction < 1:
        raise BrainembedError(f"validation fraction must be in [0, 1), got {fraction}.")
    out = {}
    for k, subject in enumerate(crowd.subjects):
        rows = subject.rows("train")
        if rows.size == 0:
            raise BrainembedError(f"subject {subject.key} has no training images.")
        rng = np.random.default_rng([seed, k, 7])
        perm = rng.permutation(rows)
        n_val = 0 if fraction == 0 else max(1, int(round(fraction * rows.size)))
        if n_val >= rows.size:
            raise BrainembedError(f"subject {subject.key} has too few training images ({rows.size}) to hold "
                                  f"out a validation set.")
        out[subject.key] = (np.sort(perm[n_val:]), np.sort(perm[:n_val]))
    return out


class CrowdBatchSampler:
    """Deterministic batches of images from all subjects with sampled voxels.

    Parameters
    ----------
    crowd : Crowd
    rows : dict subject key -> array of row indices
        The rows of each subject to draw from (its training rows).
    batch_size : int
        Images per optimisation step, over all DDP ranks together.
    voxels_per_image : int
        Voxels drawn (with replacement) for each image.
    seed : int
    max_shift : int
        Largest augmentation shift in pixels (0 disables it).
    """

    def __init__(self, crowd: Crowd, rows: dict, batch_size: int, voxels_per_image: int, seed: int,
                 max_shift: int = 0):
        if batch_size < 1 or voxels_per_image < 1:
            raise BrainembedError("batch_size and voxels_per_image must be positive.")
        self.crowd = crowd
        self.batch_size = int(batch_size)
        self.voxels_per_image = int(voxels_per_image)
        self.seed = int(seed)
        self.max_shift = int(max_shift)
        subj, row = [], []
        for k, subject in enumerate(crowd.subjects):
            r = np.asarray(rows.get(subject.key, []), dtype=np.int64)
            subj.append(np.full(r.size, k, dtype=np.int64))
            row.append(r)
        self.item_subject = np.concatenate(subj)
        self.item_row = np.concatenate(row)
        if self.item_row.size == 0:
            raise BrainembedError("no training images to sample from.")
        self._n_voxels = np.array([s.n_voxels for s in crowd.subjects], dtype=np.int64)

    @property
    def n_items(self) -> int:
        return int(self.item_row.size)

    def __len__(self) -> int:
        """Steps per epoch (the last batch may be smaller)."""
        return -(-self.n_items // self.batch_size)

    def batch(self, epoch: int, step: int, rank: int = 0, world_size: int = 1) -> Batch:
        """The batch of one step, or one DDP rank's share of it.

        Ranks take strided shares of the full batch so that shares differ in
        size by at most one image.
        """
        if not 0 <= step < len(self):
            raise BrainembedError(f"step {step} is outside the epoch (0..{len(self) - 1}).")
        order = np.random.default_rng([self.seed, epoch, 0]).permutation(self.n_items)
        items = order[step * self.batch_size:(step + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, epoch, step, 1])
        n_vox = self._n_voxels[self.item_subject[items]]
        local = np.floor(rng.random((items.size, self.voxels_per_image)) * n_vox[:, None]).astype(np.int64)
        shifts = rng.integers(-self.max_shift, self.max_shift + 1, (items.size, 2))
        share = np.arange(items.size)[rank::world_size]
        items, local, shifts = items[share], local[share], shifts[share]
        subjects = self.item_subject[items]
        rows = self.item_row[items]
        targets = np.empty(local.shape, dtype=np.float32)
        image_ids = np.empty(items.size, dtype=np.int64)
        for j, (k, r) in enumerate(zip(subjects, rows)):
            subject = self.crowd.subjects[k]
            targets[j] = subject.responses[r, local[j]]
            image_ids[j] = subject.image_ids[r]
        global_index = local + self.crowd.offsets[subjects][:, None]
        seed = int(np.random.default_rng([self.seed, epoch, step, 2]).integers(2**62))
        return Batch(image_ids, global_index, targets, shifts, seed + rank)


class SubjectBlockSampler:
    """Deterministic batches of one subject's images with all of its voxels.

    Each epoch, every subject's training rows are shuffled and cut into
    near-equal blocks of at most ``batch_size`` images; the blocks of all
    subjects are then shuffled together. A batch is one block and every voxel
    of its subject, so each (training image, voxel) pair is seen once per
    epoch. Against :class:`CrowdBatchSampler` with 500 voxels per image on the
    demo crowd, an epoch costs about 2.6 times as much and the voxel
    embeddings come out far more distinct (``docs/user_guide/training.rst``).

    Parameters
    ----------
    crowd : Crowd
    rows : dict subject key -> array of row indices
        The rows of each subject to draw from (its training rows).
    batch_size : int
        Largest number of images per optimisation step, over all DDP ranks.
    seed : int
    max_shift : int
        Largest augmentation shift in pixels (0 disables it).
    """

    def __init__(self, crowd: Crowd, rows: dict, batch_size: int, seed: int, max_shift: int = 0):
        if batch_size < 1:
            raise BrainembedError("batch_size must be positive.")
        self.crowd = crowd
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.max_shift = int(max_shift)
        self.rows = [np.asarray(rows.get(subject.key, []), dtype=np.int64) for subject in crowd.subjects]
        self._blocks_per_subject = [-(-r.size // self.batch_size) for r in self.rows]
        if sum(self._blocks_per_subject) == 0:
            raise BrainembedError("no training images to sample from.")
        self._epoch_blocks: tuple[int, list] | None = None

    def __len__(self) -> int:
        """Steps per epoch: blocks over all subjects."""
        return int(sum(self._blocks_per_subject))

    @property
    def smallest_block(self) -> int:
        """Fewest images in any block (a DDP run needs at least one per rank)."""
        return min(r.size // n for r, n in zip(self.rows, self._blocks_per_subject) if n)

    def _blocks(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        if self._epoch_blocks is None or self._epoch_blocks[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch, 0])
            blocks = []
            for k, (r, n) in enumerate(zip(self.rows, self._blocks_per_subject)):
                if n:
                    blocks += [(k, block) for block in np.array_split(rng.permutation(r), n)]
            self._epoch_blocks = (epoch, [blocks[i] for i in rng.permutation(len(blocks))])
        return self._epoch_blocks[1]

    def batch(self, epoch: int, step: int, rank: int = 0, world_size: int = 1) -> Batch:
        """The batch of one step, or one DDP rank's strided share of its images (same voxels)."""
        if not 0 <= step < len(self):
            raise BrainembedError(f"step {step} is outside the epoch (0..{len(self) - 1}).")
        k, rows = self._blocks(epoch)[step]
        rng = np.random.default_rng([self.seed, epoch, step, 1])
        shifts = rng.integers(-self.max_shift, self.max_shift + 1, (rows.size, 2))
        rows, shifts = rows[rank::world_size], shifts[rank::world_size]
        subject = self.crowd.subjects[k]
        voxel_index = np.arange(subject.n_voxels, dtype=np.int64) + self.crowd.offsets[k]
        targets = np.ascontiguousarray(subject.responses[rows], dtype=np.float32)
        seed = int(np.random.default_rng([self.seed, epoch, step, 2]).integers(2**62))
        return Batch(subject.image_ids[rows].astype(np.int64), voxel_index, targets, shifts, seed + rank)


def make_sampler(crowd: Crowd, rows: dict, training, world_size: int = 1):
    """The batch sampler a :class:`~brainembed.training.config.TrainConfig` asks for.

    Parameters
    ----------
    crowd : Crowd
    rows : dict subject key -> array of row indices
    training : TrainConfig
        Uses ``sampling``, ``batch_size``, ``voxels_per_image``, ``seed`` and
        ``max_shift``.
    world_size : int
        DDP processes; every batch must give each at least one image.

    Returns
    -------
    CrowdBatchSampler or SubjectBlockSampler
    """
    if training.sampling == "subjects":
        sampler = SubjectBlockSampler(crowd, rows, training.batch_size, training.seed, training.max_shift)
        if sampler.smallest_block < world_size:
            raise BrainembedError(
                f"with sampling 'subjects' a batch can hold only {sampler.smallest_block} image(s), fewer than the "
                f"{world_size} processes; use fewer processes, a larger batch_size or sampling 'images'.")
        return sampler
    return CrowdBatchSampler(crowd, rows, training.batch_size, training.voxels_per_image, training.seed,
                             training.max_shift)
