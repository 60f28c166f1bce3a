"""``brainembed transfer``: the few-shot curve of transfer learning to a new subject (paper Fig. 6).

For each number of training images N and each seed, the same N images of the
new subject are used twice:

- ``transfer``: the run's encoder with every shared weight frozen, only the new
  subject's voxel embeddings trained (:func:`brainembed.training.transfer.fit_new_subject`);
- ``scratch``: the run's encoder configuration trained from scratch on that
  subject alone (same frozen trunk when the configuration freezes it), with as
  many optimisation steps as a full-data single-subject run.

Both are scored on the subject's test images (median voxel r). Written into
``OUT``: ``curve.csv`` (one row per N, seed and model), ``curve_summary.csv``
(mean and sd over seeds) and ``transfer_curve.png``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError
from brainembed.validation import check_int


def _parse_sizes(n_train, n_available: int) -> list[int]:
    sizes = []
    for value in n_train:
        if str(value) == "all":
            sizes.append(n_available)
            continue
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise BrainembedError(f"--n-train values must be integers or 'all', got {value!r}.") from None
        if n < 3:
            raise BrainembedError(f"--n-train value {n} is too small (at least 3 images).")
        if n > n_available:
            raise BrainembedError(f"--n-train value {n} exceeds the subject's {n_available} training images.")
        sizes.append(n)
    return sorted(set(sizes))


def transfer_curve(run, subject: str, *, data=None, n_train=(100, 200, 400, 800, "all"), seeds: int = 5,
                   out=None, scratch=True, lr: float = 1e-2, max_epochs: int = 100, patience: int = 10,
                   overwrite: bool = False, progress: bool = True) -> dict:
    """Few-shot transfer curve of a trained run to a new subject, beside from-scratch models.

    Parameters
    ----------
    run : path
        A trained run that did NOT see ``subject``.
    subject : str
        The new subject (key or unambiguous id in ``data``).
    data : path, optional
        Crowd store holding the new subject (default: the run's store).
    n_train : sequence of int or "all"
        Numbers of training images for transfer learning.
    seeds : int
        Repeats with different image draws and initialisations.
    out : path, optional
        Output folder (default ``RUN/transfer/<subject>``).
    scratch : bool or sequence of int or "all"
        Also train subject-specific encoders from scratch: ``True`` on the
        same numbers of images as ``n_train``, ``False`` never, or on the
        numbers given (e.g. ``["100", "all"]``: the demo checks that transfer
        from 100 images beats scratch on the full set without fitting both
        models at every N). For a given seed, the first N images are the same
        for both models.
    lr : float
        Learning rate of the new embeddings (see
        :func:`~brainembed.training.transfer.fit_new_subject`).
    max_epochs, patience : int
        Early stopping of the embedding optimisation.
    overwrite : bool
    progress : bool

    Returns
    -------
    dict with ``curve`` and ``summary`` DataFrames and ``out``.
    """
    from brainembed.analysis import subjects_tag
    from brainembed.data import Crowd, load_crowd
    from brainembed.evaluation.metrics import pearson_per_voxel
    from brainembed.training.feature_cache import build_feature_cache
    from brainembed.training.loop import train_encoder
    from brainembed.training.predict import predict_subject
    from brainembed.training.run import RunDirectory, fresh_folder, load_encoder
    from brainembed.training.transfer import fit_new_subject, predict_new_subject

    run_dir = RunDirectory.of(run, data)
    config = run_dir.read_config()
    store = run_dir.store_path()
    crowd = load_crowd(store, [subject], repeats=False)
    key = crowd.keys[0]
    if key in config.subjects:
        raise BrainembedError(f"the run was trained on {key}; transfer learning needs a subject it never saw "
                              f"(train without it: `brainembed train --subjects ...`).")
    check_int("seeds", seeds, 1)
    data_subject = crowd.subject(key)
    train_all, test_rows = data_subject.rows("train"), data_subject.rows("test")
    if test_rows.size < 3:
        raise BrainembedError(f"subject {key} has {test_rows.size} test images; at least 3 are needed.")
    sizes = _parse_sizes(n_train, train_all.size)
    if isinstance(scratch, bool):
        scratch_sizes = sizes if scratch else []
    elif isinstance(scratch, str):
        raise BrainembedError(f"scratch must be True, False or a list of sizes, got {scratch!r}.")
    else:
        scratch_sizes = _parse_sizes(scratch, train_all.size)
    out = fresh_folder(Path(out) if out is not None else run_dir.output_dir("transfer", subjects_tag([key])),
                       overwrite, what="a transfer curve")
    model = run_dir.load_encoder("best")
    cache = build_feature_cache(model, crowd.images, data_subject.image_ids, store.parent / "feature_cache",
                                level="trunk", progress=progress)
    true = data_subject.responses[test_rows]
    rows = []
    for seed in range(seeds):
        order = np.random.default_rng([seed, 5]).permutation(train_all)
        for n in sorted(set(sizes) | set(scratch_sizes)):
            picked = np.sort(order[:n])
            if n in sizes:
                fitted = fit_new_subject(model, crowd, key, picked, cache=cache, max_epochs=max_epochs,
                                         patience=patience, seed=seed, lr=lr)
                pred = predict_new_subject(model, crowd, key, fitted["embeddings"], fitted["bias"], test_rows,
                                           cache=cache)
                r = pearson_per_voxel(pred, true)
                rows.append({"subject": key, "n_train": n, "seed": seed, "model": "transfer",
                             "median_r": float(np.median(r)), "epochs": fitted["epochs"]})
                if progress:
                    print(f"[transfer] {key} N={n} seed={seed}: transfer median r {np.median(r):.3f}", flush=True)
            if n in scratch_sizes:
                subset = Crowd([data_subject.subset_images(np.concatenate([picked, test_rows]))], crowd.images)
                steps_full = math.ceil(train_all.size / config.training.batch_size) * config.training.epochs
                epochs = max(config.training.epochs, math.ceil(steps_full / math.ceil(n / config.training.batch_size)))
                training = config.training.replace(epochs=min(epochs, 20 * config.training.epochs), seed=seed)
                run_out = out / "scratch" / f"n{n}_seed{seed}"
                train_encoder(subset, run_out, encoder=config.encoder, training=training, data_path=str(store),
                              progress=False, resume=True)
                scratch_model, _ = load_encoder(run_out, "best")
                pred = predict_subject(scratch_model, subset, key, subset.subject(key).rows("test"))
                r = pearson_per_voxel(pred, true)
                rows.append({"subject": key, "n_train": n, "seed": seed, "model": "scratch",
                             "median_r": float(np.median(r)), "epochs": training.epochs})
                if progress:
                    print(f"[transfer] {key} N={n} seed={seed}: scratch median r {np.median(r):.3f}", flush=True)
    curve = pd.DataFrame(rows)
    summary = (curve.groupby(["subject", "model", "n_train"])["median_r"].agg(["mean", "std", "count"])
               .reset_index().rename(columns={"mean": "median_r_mean", "std": "median_r_sd", "count": "n_seeds"}))
    curve.to_csv(out / "curve.csv", index=False)
    summary.to_csv(out / "curve_summary.csv", index=False)
    _figure(summary, out / "transfer_curve.png", key)
    if progress:
        print(f"[transfer] curve written to {out}", flush=True)
    return {"curve": curve, "summary": summary, "out": out}


def _figure(summary: pd.DataFrame, path: Path, key: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from brainembed.viz.results import plot_transfer_curve

    ax = plot_transfer_curve(summary)
    ax.set_title(f"transfer learning to {key}")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
