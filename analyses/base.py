"""The shared base run: the simulated crowd and the universal encoder trained and evaluated on it.

Done exactly as ``brainembed demo`` does it (:mod:`brainembed.demo`): simulate
the crowd into ``DIR/data``, train the universal encoder (``ube_sim``, the
shipped pretrained trunk) on every subject but the last subject of the first
(7T) dataset, which is kept for transfer learning, and evaluate it beside
ridge, Gabor-ridge and single-subject encoders (``RUN/evaluation``).

With ``--base-run RUN`` an existing run is attached instead: its config (with
the store path made absolute), best checkpoint, logs and ``evaluation/`` are
copied into ``DIR/base/run``, so that everything the experiments write lands
under ``DIR`` and the original run is left as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

NAME = "base"
TITLE = "Base run: simulated crowd, universal encoder, evaluation"
PAPER = ""
NEEDS_BASE = False


def attach_run(source, dest) -> Path:
    """Copy a trained run's config, checkpoint, logs and evaluation into ``dest``.

    Parameters
    ----------
    source : path
        A run folder written by ``brainembed train`` (e.g. ``runs/demo/run``).
    dest : path
        New run folder (its config records the source run's store, absolute and relative to ``dest``).

    Returns
    -------
    Path
        ``dest``.
    """
    from brainembed.errors import BrainembedError
    from brainembed.training.run import RunDirectory

    src, dst = RunDirectory(source), RunDirectory(dest)
    config = src.read_config()
    checkpoint = src.best if src.best.is_file() else src.last
    if not checkpoint.is_file():
        raise BrainembedError(f"{src.path} holds no checkpoint; finish training it first.")
    store = src.store_path()
    dst.path.mkdir(parents=True, exist_ok=True)
    target = dst.best if checkpoint == src.best else dst.last
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file():
        shutil.copyfile(checkpoint, target)
    for path in (src.metrics, src.steps):
        if path.is_file():
            shutil.copyfile(path, dst.path / path.name)
    evaluation = src.path / "evaluation"
    if (evaluation / "summary.csv").is_file() and not (dst.path / "evaluation" / "summary.csv").is_file():
        shutil.copytree(evaluation, dst.path / "evaluation", dirs_exist_ok=True)
    dst.write_config(config, data_path=store)  # last: marks the copy complete
    return dst.path


def held_out_subject(crowd, trained) -> str | None:
    """The subject kept for transfer learning: the demo's choice if the run did not train on it.

    Parameters
    ----------
    crowd : Crowd
    trained : sequence of str
        Subject keys the run trained on.

    Returns
    -------
    str or None (the run trained on every subject)
    """
    from brainembed.demo import held_out_for_transfer
    from brainembed.errors import BrainembedError

    trained = set(trained)
    try:
        choice = held_out_for_transfer(crowd)
    except BrainembedError:  # fewer than 3 subjects in the first dataset
        choice = None
    if choice is not None and choice not in trained:
        return choice
    left = [k for k in crowd.keys if k not in trained]
    return left[0] if left else None


def run(ctx) -> dict:
    """Simulate, train and evaluate (or attach ``ctx.reuse_run``); return the shared context."""
    from brainembed.data import load_crowd
    from brainembed.demo import DEMO_TRAINING, TINY_TRAINING, write_preview
    from brainembed.pipeline.evaluate import evaluate_run
    from brainembed.simulate import simulate_crowd
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder
    from brainembed.training.run import RunDirectory

    notes = []
    if ctx.reuse_run is not None:
        ctx.log(f"attaching the trained run {ctx.reuse_run}")
        run_dir = attach_run(ctx.reuse_run, ctx.folder / "run")
        run = RunDirectory(run_dir)
        config, store = run.read_config(), run.store_path()
        crowd = load_crowd(store, repeats=False)
        held_out = held_out_subject(crowd, config.subjects)
        notes.append(f"Base run attached from {ctx.reuse_run} (copied into base/run; not retrained).")
    else:
        store = ctx.out / "data" / "crowd.h5"
        if store.is_file():
            crowd = load_crowd(store, repeats=False)
        else:
            ctx.log(f"simulating the '{ctx.preset}' crowd (seed {ctx.seed})")
            crowd = simulate_crowd(ctx.preset, seed=ctx.seed, out=store.parent, progress=ctx.progress)
        held_out = held_out_subject(crowd, ())
        keys = [k for k in crowd.keys if k != held_out]
        settings = TrainConfig.from_dict({**(TINY_TRAINING if ctx.tiny else DEMO_TRAINING), "seed": ctx.seed})
        run_dir = ctx.folder / "run"
        ctx.log(f"training the universal encoder on {len(keys)} subjects ({held_out} kept for transfer)")
        train_encoder(crowd.select(keys), run_dir, encoder="ube_sim", training=settings, data_path=str(store),
                      resume=True, progress=ctx.progress)
        notes.append(f"Trained with brainembed.demo's {'TINY' if ctx.tiny else 'DEMO'}_TRAINING settings, "
                     f"seed {ctx.seed}.")
    if not (run_dir / "evaluation" / "summary.csv").is_file():
        ctx.log("evaluating beside ridge, Gabor-ridge and single-subject encoders")
        evaluate_run(run_dir, baselines=("ridge", "gabor", "single"), n_candidates=50 if ctx.tiny else 100,
                     overwrite=True, progress=ctx.progress)
    figures = write_preview(crowd, ctx.folder / "figures")
    notes.append(f"{crowd}; {held_out} is kept out of the base run for transfer learning.")
    tables = {"crowd": crowd.summary().drop(columns=["n_repeats", "first_voxel"], errors="ignore")}
    metrics = RunDirectory(run_dir).metrics
    if metrics.is_file():
        tables["training"] = pd.read_csv(metrics)
    return {"tables": tables, "figures": figures, "notes": notes,
            "context": {"store": store, "run": run_dir, "held_out": held_out}}
