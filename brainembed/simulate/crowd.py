"""Simulate a whole crowd of brains: datasets, subjects, images, responses and ground truth.

For every dataset of the preset (:mod:`brainembed.simulate.presets`):

1. Stimuli are drawn once (:func:`~brainembed.simulate.stimuli.draw_stimuli`,
   grayscale for ``4T``): a shared test set seen by every subject of the
   dataset (like NSD's shared1000) followed by one disjoint training set per
   subject. A separate *reference* sample from the same distribution, never
   shown to anyone, fixes each voxel's signal statistics (and so the exact
   noise ceiling, see :mod:`brainembed.simulate.responses`).
2. Each subject gets its own cortex (:func:`~brainembed.simulate.cortex.simulate_cortex`:
   displaced regions, its own sample of fsaverage5 vertices and voxel count)
   and its own voxel tuning (:func:`~brainembed.simulate.responses.voxel_tuning`).
3. Each voxel's noise-free signal on the subject's images plus Gaussian noise
   gives ``n_repeats`` trials per image. Training rows of
   :attr:`SubjectData.responses` are single trials (the first), test rows the
   average over repeats (as in NSD); :attr:`SubjectData.repeats` keeps every
   trial. With ``zscore=True`` (default) responses are standardised per voxel
   with the population mean and standard deviation of single trials (what
   per-session z-scoring in NSD approximates); noise ceilings are unchanged by
   it.

Seeds: everything derives from ``seed`` through :class:`numpy.random.SeedSequence`
keyed by dataset and subject position in the full preset, so dropping a
dataset or a subject leaves the others unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainembed.data.containers import Crowd, ImageStore, SubjectData
from brainembed.data.preprocessing import noise_ceiling_from_ncsnr
from brainembed.data.store import check_store_target
from brainembed.errors import BrainembedError
from brainembed.simulate.cortex import simulate_cortex
from brainembed.simulate.presets import DATASETS, DatasetPreset, resolve_preset
from brainembed.simulate.responses import REGION_SNR, ResponseModel, draw_noise, image_features, voxel_tuning

__all__ = ["simulate_crowd", "simulate_dataset"]

_MAX_NCSNR = 3.0
_MIN_NCSNR = 0.05


def _seed(seed, *keys) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), *keys])


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BrainembedError(f"seed must be a non-negative integer, got {seed!r}.")
    return int(seed)


def _voxel_ncsnr(dataset: DatasetPreset, regions, rng) -> np.ndarray:
    factor = np.array([REGION_SNR.get(r, REGION_SNR["other"]) for r in regions])
    ncsnr = dataset.snr * factor * np.exp(rng.normal(0.0, dataset.snr_spread, len(factor)))
    return np.clip(ncsnr, _MIN_NCSNR, _MAX_NCSNR)


def simulate_dataset(dataset: DatasetPreset, *, seed: int = 0, image_size: int = 112, first_image_id: int = 0,
                     first_subject: int = 1, shift_mm: float = 5.0, size_jitter: float = 0.15,
                     n_scales: int = 4, n_orientations: int = 8, zscore: bool = True, progress: bool = False):
    """Simulate one dataset: its images and its subjects.

    Parameters
    ----------
    dataset : DatasetPreset
    seed : int
    image_size : int
    first_image_id : int
        Id of the dataset's first image in the crowd's image store.
    first_subject : int
        Number of the dataset's first subject (subject ids are unique across the crowd).
    shift_mm, size_jitter : float
        Individual variability of the category regions (see :func:`~brainembed.simulate.cortex.cortical_map`).
    n_scales, n_orientations : int
        Gabor bank of the early-visual model.
    zscore : bool
        Standardise responses per voxel.
    progress : bool
        Show progress bars.

    Returns
    -------
    subjects : list of SubjectData
    pixels : array of shape (n_images, image_size, image_size, 3), uint8
    metadata : DataFrame with one row per image
        The stimulus labels plus ``image_id``, ``dataset``, ``pool``
        (``"train"``/``"test"``), ``subject`` (owner of a training image,
        ``"shared"`` for test images) and ``categories_present`` (every
        category drawn in the image, ``;``-separated).
    """
    from brainembed.simulate.stimuli import draw_stimuli

    key = DATASETS.index(dataset.name) if dataset.name in DATASETS else len(DATASETS)
    root = _seed(seed, key)
    stim_seed, ref_seed, *subject_seeds = root.spawn(2 + dataset.n_subjects)
    n_test, n_train = dataset.n_test, dataset.n_train
    n_images = n_test + dataset.n_subjects * n_train
    stim = draw_stimuli(n_images, image_size=image_size, random_state=np.random.default_rng(stim_seed),
                        grayscale=dataset.grayscale, progress=progress)
    reference = draw_stimuli(dataset.n_reference, image_size=image_size,
                             random_state=np.random.default_rng(ref_seed), grayscale=dataset.grayscale)
    features = image_features(stim, n_scales=n_scales, n_orientations=n_orientations)
    reference_features = image_features(reference, n_scales=n_scales, n_orientations=n_orientations)
    ids = first_image_id + np.arange(n_images, dtype=np.int64)
    test_rows = np.arange(n_test)
    owner = np.full(n_images, "shared", dtype=object)
    subjects = []
    iterator = range(dataset.n_subjects)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"simulating {dataset.name} subjects", unit="subject")
    for k in iterator:
        rng = np.random.default_rng(subject_seeds[k])
        name = str(first_subject + k)
        train_rows = n_test + k * n_train + np.arange(n_train)
        owner[train_rows] = name
        lo = max(1, int(round(dataset.min_voxel_fraction * dataset.n_voxels)))
        n_voxels = int(rng.integers(lo, dataset.n_voxels + 1))
        voxels = simulate_cortex(n_voxels, random_state=rng, shift_mm=shift_mm, size_jitter=size_jitter)
        voxels = voxel_tuning(voxels, random_state=rng)
        model = ResponseModel(voxels).calibrate(reference_features)
        rows = np.concatenate([train_rows, test_rows])
        signal = model.signal(features.subset(rows))
        ncsnr = _voxel_ncsnr(dataset, voxels["region"].to_numpy(), rng)
        noise_sd = model.signal_sd_ / ncsnr
        trials = signal[:, None, :].astype(np.float32) + draw_noise(rng, (len(rows), dataset.n_repeats, n_voxels),
                                                                    noise_sd)
        signal_sd = model.signal_sd_
        if zscore:
            total = np.sqrt(model.signal_sd_**2 + noise_sd**2)
            trials = ((trials - model.signal_mean_.astype(np.float32)) / total.astype(np.float32))
            signal_sd, noise_sd = signal_sd / total, noise_sd / total
        responses = np.concatenate([trials[:n_train, 0], trials[n_train:].mean(axis=1)]).astype(np.float32)
        voxels = voxels.assign(
            signal_sd=signal_sd, noise_sd=noise_sd, true_ncsnr=ncsnr,
            true_noise_ceiling=noise_ceiling_from_ncsnr(ncsnr, dataset.n_repeats),
        )
        subjects.append(SubjectData(
            dataset=dataset.name, subject=name, responses=responses, image_ids=ids[rows],
            split=np.array(["train"] * n_train + ["test"] * n_test), voxels=voxels,
            repeats=trials.astype(np.float32), field_strength=dataset.field_strength,
            attrs={"snr": float(dataset.snr), "snr_spread": float(dataset.snr_spread),
                   "n_repeats": int(dataset.n_repeats), "units": "zscore" if zscore else "raw",
                   "test_responses": "mean of repeats", "train_responses": "first repeat",
                   "grayscale": bool(dataset.grayscale)},
        ))
    present = stim.objects.groupby("image")["category"].agg(lambda c: ";".join(sorted(set(c))))
    metadata = stim.labels.assign(
        image_id=ids, dataset=dataset.name,
        pool=np.where(np.arange(n_images) < n_test, "test", "train"), subject=owner,
        categories_present=present.reindex(np.arange(n_images)).fillna("").to_numpy(),
    )
    return subjects, stim.images, metadata


def simulate_crowd(preset="demo", *, seed: int = 0, out=None, overwrite: bool = False, progress: bool = False,
                   **overrides) -> Crowd:
    """Simulate the crowd of brains: several datasets of subjects with a known ground truth.

    Parameters
    ----------
    preset : {"tiny", "demo", "paper"} or CrowdPreset
        Sizes and noise levels (:data:`brainembed.simulate.presets.PRESETS`).
    seed : int
        Everything (stimuli, anatomy, tuning, noise) follows from it.
    out : str or Path, optional
        Also save the crowd there (a folder gets ``crowd.h5``) with
        :func:`brainembed.data.save_crowd`.
    overwrite : bool
        Replace an existing store at ``out``.
    progress : bool
        Show progress bars.
    **overrides
        Preset settings, e.g. ``n_subjects_7t=4``, ``n_train=100``,
        ``n_voxels=500``, ``image_size=64``, ``datasets=["7T"]`` (see
        :func:`brainembed.simulate.presets.resolve_preset`).

    Returns
    -------
    Crowd
        Subjects ``7T:1``..., then ``3T``, then ``4T`` subjects; subject ids
        are numbers unique across the crowd, so ``crowd.subject("1")`` works.
        Voxel tables carry the ground truth (``region``, pRF, tuning,
        ``true_ncsnr``, ``true_noise_ceiling``); image metadata carries the
        stimulus labels, ``dataset`` and ``pool``. ``crowd.attrs`` holds
        ``preset``, ``seed``, ``image_size`` and ``sizes``.

    Examples
    --------
    >>> crowd = simulate_crowd("tiny", seed=1)              # doctest: +SKIP
    >>> crowd.summary()[["dataset", "subject", "n_train", "n_test", "n_voxels"]]  # doctest: +SKIP
    """
    seed = _check_seed(seed)
    config = resolve_preset(preset, **overrides)
    if out is not None:  # before minutes of simulation, not after
        check_store_target(out, overwrite=overwrite)
    subjects, pixels, metadata = [], [], []
    next_id, next_subject = 0, 1
    for dataset in config.datasets:
        subs, pix, meta = simulate_dataset(
            dataset, seed=seed, image_size=config.image_size, first_image_id=next_id,
            first_subject=next_subject, shift_mm=config.shift_mm, size_jitter=config.size_jitter,
            n_scales=config.n_scales, n_orientations=config.n_orientations, zscore=config.zscore,
            progress=progress)
        subjects += subs
        pixels.append(pix)
        metadata.append(meta)
        next_id += len(pix)
        next_subject += len(subs)
    metadata = pd.concat(metadata, ignore_index=True)
    images = ImageStore(np.concatenate(pixels), metadata["image_id"].to_numpy(),
                        metadata.drop(columns="image_id"))
    attrs = {
        "generator": "brainembed.simulate", "preset": config.name, "seed": seed,
        "image_size": config.image_size, "sizes": config.sizes(), "shift_mm": config.shift_mm,
        "size_jitter": config.size_jitter, "zscore": config.zscore,
    }
    crowd = Crowd(subjects, images, attrs)
    if out is not None:
        from brainembed.data.store import save_crowd

        save_crowd(crowd, out, overwrite=overwrite)
    return crowd

