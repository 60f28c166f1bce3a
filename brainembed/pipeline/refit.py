"""``brainembed refit``: refit some subjects' voxel embeddings against a trained run's frozen shared weights.

Joint training stops where the validation score of the whole crowd peaks,
which on small budgets comes before each voxel's embedding has converged: a
voxel is seen a few hundred times, mostly as about one sample per optimisation
step. Its embedding then stays close to what the crowd's voxels share. The
transfer-learning procedure of the paper (§3: every shared weight frozen, only
one subject's embeddings trained, :func:`brainembed.training.transfer.fit_new_subject`)
fits a subject's embeddings with all of its voxels in every batch instead.
Applied to subjects the run already trained on, it gives embeddings that say
more about each voxel's own selectivity: on the demo crowd trained with the
paper's sampling (``sampling="images"``) it roughly doubles how well k-means on
subjects 1 and 2 recovers the planted category regions. A run trained with
``sampling="subjects"`` already sees every voxel with every image, and refitting
it did not help further (see the analyses guide).

The result is a new run folder: the source run's configuration and its best
weights, with the chosen subjects' rows of the embedding table replaced. Every
command that reads a run (``cluster``, ``top-images``, ``embed-map``, ``rsa``,
``evaluate``, ``flatmap``) works on it unchanged. ``refit.csv`` records, per
subject, the epochs run, the best epoch, the validation score and the time.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError
from brainembed.validation import check_count, check_positive

__all__ = ["refit_run"]


def refit_run(run, out, subjects=None, *, data=None, lr: float = 1e-2, max_epochs: int = 60, patience: int = 5,
              seed: int = 0, device: str = "auto", overwrite: bool = False, progress: bool = True) -> dict:
    """Refit the voxel embeddings of some trained subjects with every shared weight frozen.

    Parameters
    ----------
    run : path
        Run folder written by ``brainembed train`` (not modified).
    out : path
        New run folder to write (config, ``checkpoints/best.pt``, ``refit.csv``).
    subjects : sequence of str, optional
        Subjects of the run to refit (keys or bare ids, e.g. ``["1", "2"]``);
        default all. The others keep their jointly trained embeddings.
    data : path, optional
        Crowd store (default: the run's).
    lr : float, default=1e-2
        Adam learning rate of the embeddings (the transfer default).
    max_epochs, patience : int
        Passes over a subject's training images; stop after ``patience``
        epochs without a better validation score (the best epoch is kept).
    seed : int, default=0
        Seeds the fresh embeddings and the validation split.
    device : str, default="auto"
    overwrite : bool, default=False
        Replace an existing ``out``.
    progress : bool, default=True

    Returns
    -------
    dict
        ``out`` (path), ``table`` (DataFrame of ``refit.csv``: ``subject``,
        ``n_voxels``, ``epochs``, ``best_epoch``, ``val_p75_r``,
        ``seconds``). The validation images are a share of the subject's
        training images, which the source run trained on: compare models
        with ``brainembed evaluate`` on the test images instead.
    """
    from brainembed.data import load_crowd
    from brainembed.training.checkpoint import save_checkpoint
    from brainembed.training.distributed import resolve_device
    from brainembed.training.feature_cache import build_feature_cache
    from brainembed.training.run import EMBEDDING_TABLE, RunDirectory, fresh_folder
    from brainembed.training.transfer import fit_new_subject

    source = RunDirectory.of(run, data)
    config = source.read_config()
    store = source.store_path()
    starts = source.subject_offsets()
    keys = source.resolve_subjects(subjects)
    for name, value, minimum in (("max_epochs", max_epochs, 1), ("patience", patience, 1), ("seed", seed, 0)):
        check_count(name, value, minimum)
    check_positive("lr", lr)
    out = Path(out)
    if out.resolve() == source.path.resolve():
        raise BrainembedError("the refitted run needs its own folder; --out must differ from --run.")
    fresh_folder(out, overwrite, what="files", create=False)
    crowd = load_crowd(store, keys, repeats=False)
    sizes = source.voxel_counts()
    for key in keys:
        if crowd.subject(key).n_voxels != sizes[key]:
            raise BrainembedError(f"subject {key} has {crowd.subject(key).n_voxels} voxels in {store} but the run "
                                  "was trained with a different number; pass the store the run was trained on.")
    device = resolve_device(device)
    model = source.load_encoder("best", device=device)
    state = source.checkpoint_state("best")  # the file load_encoder read, not loaded again
    weights = {k: v.clone() for k, v in state["model"].items()}
    table_name, bias_name = EMBEDDING_TABLE, "head.embeddings.bias"
    if table_name not in weights:
        raise BrainembedError(f"the checkpoint of {source.path} holds no voxel-embedding table.")
    ids = np.unique(np.concatenate([crowd.subject(k).image_ids for k in keys]))
    cache = build_feature_cache(model, crowd.images, ids, store.parent / "feature_cache", level="trunk",
                                device=device, progress=progress)
    rows = []
    for key in keys:
        t0 = time.perf_counter()
        subject = crowd.subject(key)
        fitted = fit_new_subject(model, crowd, key, cache=cache, lr=lr, max_epochs=max_epochs, patience=patience,
                                 seed=seed, device=device)
        start = int(starts[key])
        span = slice(start, start + subject.n_voxels)
        weights[table_name][span] = fitted["embeddings"].to(weights[table_name])
        if fitted["bias"] is not None and bias_name in weights:
            weights[bias_name][span] = fitted["bias"].to(weights[bias_name])
        rows.append({"subject": key, "n_voxels": subject.n_voxels, "epochs": fitted["epochs"],
                     "best_epoch": fitted["best_epoch"] + 1, "val_p75_r": fitted["best_score"],
                     "seconds": time.perf_counter() - t0})
        if progress:
            print(f"[refit] {key}: {fitted['epochs']} epochs (best {fitted['best_epoch'] + 1}), validation p75 r "
                  f"{fitted['best_score']:.3f}", flush=True)
    table = pd.DataFrame(rows)
    fresh_folder(out, overwrite=True)
    target = RunDirectory(out)
    target.write_config(config, data_path=store)  # the store found from the new folder too
    target.best.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"model": weights, "epoch": state.get("epoch", -1), "score": state.get("score", float("nan")),
                     "refit_of": str(source.path), "refit_subjects": list(keys)}, target.best)
    table.assign(source_run=str(source.path)).to_csv(out / "refit.csv", index=False)
    if progress:
        print(f"[refit] run with refitted embeddings of {', '.join(keys)} written to {out}", flush=True)
    return {"out": out, "table": table}
