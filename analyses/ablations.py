"""Appendix E ablations: voxel-embedding size and the voxel head's components.

Encoders that differ in one setting are trained on the same data and compared
on the test set. The paper (appendix E) varies the voxel-embedding size E
from 64 to 1024 and finds median r nearly flat (0.5170 to 0.5243); its
Fig. S9 / Table S6 remove components of the voxel head and every removal
costs accuracy. Here, beside the default ``ube_sim`` encoder (E = 128):

- E in 64, 128, 256, 512, 1024 (``EncoderConfig.embed_dim``; E = 128 is the
  default run);
- without spatial attention (``attention="mean"``: every voxel averages a
  layer's tokens uniformly);
- without the functional readout (``readout="shared"``: one readout vector
  for every voxel instead of ``e·F``);
- a single backbone layer (``layers=(6,)``, the last of ube_sim's 1, 3, 5, 6).

To fit the report's time budget, these small encoders train on the first
(7T) dataset only, minus the subject the base run keeps for transfer
learning, with the demo's training settings (``brainembed.demo.DEMO_TRAINING``:
batch 32, cached trunk features) but the paper's sampling of
:data:`VOXELS_PER_IMAGE` random voxels per image (500; the demo's batches of
all of a subject's voxels cost 2.6 times as much per epoch) and :data:`EPOCHS`
epochs: 1 on the ``demo`` preset (7 subjects, 79 steps per epoch). Measured
single-threaded CPU time per training step: 0.36 s for the default, 1.55 s
for E = 1024, 0.29 s without spatial attention, 0.44 s without the
functional readout, 0.12 s with one layer (E = 64 ... 512 about linear in
between), and about 24 s per evaluation of the default; that made 10 to 11
minutes for the 8 runs with 2 epochs, too close to the budget, so 1 it is:
on 2 otherwise idle cores the 8 runs then took 360 s (train + evaluate:
default 65 s, E = 1024 89 s; the 6 further runs of
:mod:`analyses.training_defaults` 217 s). The default
run's validation p75 r is 0.447 after 1 epoch, 0.450 after 2 and 0.455
after 3. A 3-epoch check of three settings (outside the report) kept the
1-epoch ordering: test median r 0.518 for the default, 0.464 for E = 1024
and 0.526 without the functional readout (1 epoch: 0.506, 0.443, 0.519).
The ``tiny`` preset trains 1 epoch with 32 voxels per image (8 s and 6 s
for the two experiments).
Each encoder is scored by :func:`brainembed.pipeline.evaluate.evaluate_run`
on every training subject's test images: the median r over all test voxels
pooled, and the median of r over the exact (simulated) noise ceiling
sqrt(NC) (``median_r_over_true_ceiling``); per-subject medians give the
paired comparisons.

Every run lives in its own folder ``DIR/ablation_runs/<tag>`` (shared with
:mod:`analyses.training_defaults`, which reuses the ``default`` run); a run
that finished and was evaluated before is reused. When the crowd's store lies
outside ``DIR`` (``--base-run``), it is reached through a symbolic link in
``DIR/ablation_runs/data`` so that the feature cache is written under ``DIR``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.common import save_figure
from analyses.verdicts import NOT_REPRODUCED, REPRODUCED, differs, fmt, verdict_row

NAME = "ablations"
TITLE = "Appendix E: ablations of the voxel-embedding size and of the voxel head's components"
PAPER = ("Appendix E: the voxel-embedding size E barely matters, median r 0.5170, 0.5221, 0.5221, 0.5227, 0.5243 "
         "for E = 64, 128, 256, 512, 1024 (NSD); Fig. S9 / Table S6: every component of the voxel head (spatial "
         "attention, functional readout, multi-layer features) contributes, removing one lowers accuracy.")

#: The registered encoder every run starts from.
ENCODER = "ube_sim"
#: Folder (under the report folder) holding every small run, shared with :mod:`analyses.training_defaults`.
RUNS_FOLDER = "ablation_runs"
#: Epochs of the small runs per preset (``paper`` falls back to ``demo``).
EPOCHS = {"tiny": 1, "demo": 1}
#: Voxels sampled per image per preset (the paper's sampling, ``sampling="images"``).
VOXELS_PER_IMAGE = {"tiny": 32, "demo": 500}
#: Voxel-embedding sizes of appendix E and the paper's median r for each.
EMBED_DIMS = (64, 128, 256, 512, 1024)
PAPER_EMBED_MEDIAN_R = {64: 0.5170, 128: 0.5221, 256: 0.5221, 512: 0.5227, 1024: 0.5243}
#: Largest spread (max - min) of median r over E that still counts as "nearly flat".
FLAT_TOLERANCE = 0.02
#: Component ablations: tag -> (component removed, description of the change).
COMPONENTS = {
    "no_spatial_attention": ("spatial attention", 'attention="mean"'),
    "no_functional_readout": ("functional readout", 'readout="shared"'),
    "last_layer_only": ("multi-layer features", "layers = (last layer,)"),
}
#: Tag of the reference run (the registered configuration, unchanged).
DEFAULT_TAG = "default"


# --------------------------------------------------------------------------- small runs (shared)


def small_training(ctx, **changes):
    """The :class:`~brainembed.training.config.TrainConfig` of the small runs for ``ctx``'s preset.

    Parameters
    ----------
    ctx : analyses.runner.Context
    **changes
        TrainConfig fields changed on top (e.g. ``embedding_lr_mult``, ``seed``).

    Returns
    -------
    TrainConfig
    """
    from brainembed.demo import DEMO_TRAINING, TINY_TRAINING
    from brainembed.training.config import TrainConfig

    settings = {**(TINY_TRAINING if ctx.tiny else DEMO_TRAINING), "epochs": ctx.pick(EPOCHS), "seed": ctx.seed,
                "sampling": "images", "voxels_per_image": ctx.pick(VOXELS_PER_IMAGE)}
    return TrainConfig.from_dict({**settings, **changes})


def encoder_config(**changes):
    """The registered :data:`ENCODER` configuration with some fields changed.

    Returns
    -------
    EncoderConfig
    """
    from brainembed.models.registry import get_encoder_config

    return get_encoder_config(ENCODER, **changes)


def runs_root(ctx) -> Path:
    """``DIR/ablation_runs``, the folder of every small run."""
    return Path(ctx.out) / RUNS_FOLDER


def store_path(ctx) -> Path:
    """The crowd store the small runs read, inside the report folder.

    The base run's store when it lies under ``ctx.out``; otherwise a symbolic
    link to it in ``DIR/ablation_runs/data`` (the feature cache is written
    beside the path a run is given, so nothing is written next to an
    attached run's store). The feature-cache files already next to an
    outside store are linked too, so they are read instead of rebuilt; a
    cache that must grow replaces its link by a new file, never the target.
    """
    store = Path(ctx.store).resolve()
    out = Path(ctx.out).resolve()
    if out in store.parents:
        return store
    link = runs_root(ctx) / "data" / store.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != store:
        link.unlink()
    if not link.exists():
        link.symlink_to(store)
    caches = store.parent / "feature_cache"
    if caches.is_dir():
        (link.parent / "feature_cache").mkdir(exist_ok=True)
        for cache in caches.glob("*.h5"):
            target = link.parent / "feature_cache" / cache.name
            if not target.exists() and not target.is_symlink():
                target.symlink_to(cache.resolve())
    return link


def training_subjects(ctx, crowd) -> list[str]:
    """Keys of the first dataset's subjects, minus the one kept for transfer learning (``ctx.held_out``)."""
    first = crowd.subjects[0].dataset
    return [s.key for s in crowd.subjects if s.dataset == first and s.key != ctx.held_out]


def load_training_crowd(ctx):
    """The crowd of :func:`training_subjects` and the store path the runs record.

    Returns
    -------
    crowd : Crowd
    store : Path
    """
    from brainembed.data import load_crowd

    store = store_path(ctx)
    full = load_crowd(store, repeats=False)
    return full.select(training_subjects(ctx, full)), store


def train_and_score(ctx, crowd, store, tag: str, encoder, training) -> dict:
    """Train one small encoder (or reuse it) and score it on its subjects' test images.

    Parameters
    ----------
    ctx : analyses.runner.Context
    crowd : Crowd
        The training subjects (:func:`load_training_crowd`).
    store : path
        The store ``crowd`` was read from.
    tag : str
        Run name: the run is ``DIR/ablation_runs/<tag>``.
    encoder : EncoderConfig
    training : TrainConfig

    Returns
    -------
    dict with ``tag``; ``train_loss``, ``val_p75_r`` and ``val_median_r``
    (best epoch; validation voxels pooled); ``best_epoch`` (1-based); ``test_median_r`` and
    ``test_median_r_over_true_ceiling`` (all test voxels pooled);
    ``train_s`` and ``evaluate_s`` (wall seconds, from the call that did the
    work); and ``subjects``, a DataFrame of per-subject ``median_r`` and
    ``median_r_over_true_ceiling``.
    """
    from analyses.common import read_csv
    from brainembed.errors import BrainembedError
    from brainembed.pipeline.evaluate import evaluate_run
    from brainembed.training.loop import train_encoder

    run_dir = runs_root(ctx) / tag
    timing_path = run_dir / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {}
    ctx.log(f"{tag}: training (or reusing) {run_dir}")
    t0 = time.perf_counter()
    result = train_encoder(crowd, run_dir, encoder=encoder, training=training, data_path=str(store), resume=True,
                           progress=False)
    if not result["finished"]:
        raise BrainembedError(f"the run {run_dir} did not finish.")
    if "train_s" not in timing:
        timing["train_s"] = time.perf_counter() - t0
        timing_path.write_text(json.dumps(timing))
    evaluation = run_dir / "evaluation"
    if not (evaluation / "summary.csv").is_file() or "evaluate_s" not in timing:
        t0 = time.perf_counter()
        evaluate_run(run_dir, baselines=(), out=evaluation, n_candidates=50, n_repeats=2, overwrite=True,
                     progress=False, figures=False)
        timing["evaluate_s"] = time.perf_counter() - t0
        timing_path.write_text(json.dumps(timing))
    summary = read_csv(evaluation / "summary.csv")
    voxels = read_csv(evaluation / "voxels.csv")
    metrics = pd.read_csv(run_dir / "metrics.csv")
    best = metrics[metrics["epoch"] == result["best_epoch"]].iloc[-1]
    ceiling = "median_r_over_true_ceiling"
    subjects = summary[["dataset", "subject", "median_r"] + ([ceiling] if ceiling in summary else [])].copy()
    return {"tag": tag, "train_loss": float(best["train_loss"]), "val_p75_r": float(best["val_p75_r"]),
            "val_median_r": float(best["val_median_r"]), "best_epoch": int(best["epoch"]) + 1,
            "test_median_r": float(np.nanmedian(voxels["r"])),
            "test_median_r_over_true_ceiling": float(np.nanmedian(voxels["r_over_true_ceiling"]))
            if "r_over_true_ceiling" in voxels else float("nan"),
            "train_s": float(timing.get("train_s", float("nan"))),
            "evaluate_s": float(timing.get("evaluate_s", float("nan"))), "subjects": subjects}


def results_table(scores: list[dict], extra: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per run from :func:`train_and_score` results (per-subject tables dropped).

    Parameters
    ----------
    scores : list of dict
    extra : dict of tag -> dict, optional
        More columns per run (e.g. the setting that differs).

    Returns
    -------
    DataFrame
    """
    extra = extra or {}
    rows = [{"tag": s["tag"], **extra.get(s["tag"], {}), **{k: v for k, v in s.items()
                                                          if k not in ("tag", "subjects")}} for s in scores]
    return pd.DataFrame(rows)


def subjects_table(scores: list[dict], value: str = "median_r") -> pd.DataFrame:
    """Per-subject test medians: one row per subject (``dataset``, ``subject``), one column per run tag.

    Parameters
    ----------
    scores : list of dict
        :func:`train_and_score` results.
    value : str
        ``median_r`` or ``median_r_over_true_ceiling``.

    Returns
    -------
    DataFrame
    """
    long = pd.concat([s["subjects"].assign(tag=s["tag"]) for s in scores], ignore_index=True)
    table = long.pivot_table(index=["dataset", "subject"], columns="tag", values=value, sort=False)
    table = table[[s["tag"] for s in scores]].reset_index()
    table.columns.name = None
    return table


# --------------------------------------------------------------------------- verdicts


def embedding_size_verdict(median_r: dict, tolerance: float = FLAT_TOLERANCE) -> dict:
    """Verdict on "median r is nearly flat over the voxel-embedding size".

    Parameters
    ----------
    median_r : dict of int -> float
        Test median r per embedding size E.
    tolerance : float
        Largest spread (max - min) that counts as flat.

    Returns
    -------
    dict, a verdict row: reproduced when the spread is below ``tolerance``.
    """
    sizes = sorted(median_r)
    values = np.array([median_r[e] for e in sizes], dtype=float)
    paper = ", ".join(f"{PAPER_EMBED_MEDIAN_R[e]:.4f}" if e in PAPER_EMBED_MEDIAN_R else "-" for e in sizes)
    if len(values) < 2 or not np.all(np.isfinite(values)):
        verdict = differs("the median r of some embedding sizes could not be computed")
        spread = float("nan")
    else:
        spread = float(values.max() - values.min())
        verdict = REPRODUCED if spread < tolerance else NOT_REPRODUCED
    paper_spread = max(PAPER_EMBED_MEDIAN_R.values()) - min(PAPER_EMBED_MEDIAN_R.values())
    ours = (", ".join(fmt(v, 4) for v in values) + f" (E = {', '.join(map(str, sizes))}); spread max - min "
            f"{fmt(spread, 4)} {'<' if spread < tolerance else '>='} {tolerance}")
    return verdict_row("Median r is nearly flat over the voxel-embedding size E = 64 ... 1024",
                       f"{paper} (spread {paper_spread:.4f})", ours, verdict)


def component_verdict(component: str, change: str, default: float, ablated: float, *,
                      subject_default=None, subject_ablated=None) -> dict:
    """Verdict on "removing ``component`` lowers median r".

    Parameters
    ----------
    component : str
        The component removed (e.g. ``"spatial attention"``).
    change : str
        How it is removed (e.g. ``'attention="mean"'``).
    default, ablated : float
        Test median r with and without the component.
    subject_default, subject_ablated : sequence of float, optional
        The same per subject (paired), reported as a count.

    Returns
    -------
    dict, a verdict row: reproduced when ``ablated < default``.
    """
    if not (np.isfinite(default) and np.isfinite(ablated)):
        verdict = differs("a median r could not be computed")
    else:
        verdict = REPRODUCED if ablated < default else NOT_REPRODUCED
    ours = f"{fmt(ablated, 4)} without vs {fmt(default, 4)} with ({ablated - default:+.4f})"
    if subject_default is not None and subject_ablated is not None:
        lower = int(np.sum(np.asarray(subject_ablated, float) < np.asarray(subject_default, float)))
        ours += f"; lower for {lower}/{len(subject_default)} subjects"
    return verdict_row(f"Removing the {component} ({change}) lowers median r", "lower (Fig. S9 / Table S6)",
                       ours, verdict)


def embedding_trend(table: pd.DataFrame) -> str:
    """A sentence on how test median r and the training loss (best epoch) move with E (Spearman correlations).

    Parameters
    ----------
    table : DataFrame
        The ``runs`` table (``group``, ``embed_dim``, ``test_median_r``, ``train_loss``).

    Returns
    -------
    str
        When median r falls and the training loss rises with E (both
        |rho| >= 0.8), the sentence says that the larger embeddings are
        slower to train in this short schedule.
    """
    sizes = table[table["group"] == "embedding size"].sort_values("embed_dim")
    rho_r = float(sizes["embed_dim"].corr(sizes["test_median_r"], method="spearman"))
    rho_loss = float(sizes["embed_dim"].corr(sizes["train_loss"], method="spearman"))
    text = (f"Over E = {', '.join(str(int(e)) for e in sizes['embed_dim'])}: test median r "
            f"{', '.join(fmt(v) for v in sizes['test_median_r'])} (Spearman rho with E {rho_r:+.2f}), training "
            f"loss (best epoch) {', '.join(fmt(v) for v in sizes['train_loss'])} (rho {rho_loss:+.2f}).")
    if rho_r <= -0.8 and rho_loss >= 0.8:
        text += (" Median r falls as the training loss rises: in this short schedule the larger embeddings are "
                 "slower to fit, which is not the converged comparison of the paper.")
    return text


# --------------------------------------------------------------------------- figure


def plot_ablations(table: pd.DataFrame, out) -> Path:
    """Median r over E (ours and the paper's) and the change of median r per component removed; saved as a PNG.

    Parameters
    ----------
    table : DataFrame
        The ``runs`` table of :func:`run` (``tag``, ``group``, ``embed_dim``,
        ``test_median_r``, ``test_median_r_over_true_ceiling``).
    out : path
        PNG file.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_c) = plt.subplots(1, 2, figsize=(11, 4))
    sizes = table[table["group"] == "embedding size"].sort_values("embed_dim")
    ax_e.plot(sizes["embed_dim"], sizes["test_median_r"], "o-", label="ours: median r")
    ax_e.plot(sizes["embed_dim"], sizes["test_median_r_over_true_ceiling"], "s--",
              label="ours: median r / sqrt(NC)")
    ax_e.plot(list(PAPER_EMBED_MEDIAN_R), list(PAPER_EMBED_MEDIAN_R.values()), "^:", color="grey",
              label="paper (NSD): median r")
    ax_e.set_xscale("log", base=2)
    ax_e.set_xticks(list(EMBED_DIMS), [str(e) for e in EMBED_DIMS])
    ax_e.set_xlabel("voxel-embedding size E")
    ax_e.set_ylabel("test median r")
    ax_e.set_ylim(0, 1)
    ax_e.legend(fontsize=8)
    ax_e.set_title("embedding size")
    parts = table.set_index("tag")
    labels = [f"no {COMPONENTS[t][0]}" if t != "last_layer_only" else "last layer only" for t in COMPONENTS]
    x = np.arange(len(COMPONENTS))
    for offset, column, label in ((-0.2, "test_median_r", "median r"),
                                  (0.2, "test_median_r_over_true_ceiling", "median r / sqrt(NC)")):
        delta = [parts.loc[t, column] - parts.loc[DEFAULT_TAG, column] for t in COMPONENTS]
        ax_c.bar(x + offset, delta, 0.4, label=label)
    ax_c.axhline(0, color="k", lw=0.8)
    ax_c.set_xticks(x, labels, rotation=15, fontsize=8)
    ax_c.set_ylabel("change vs the default run")
    ax_c.legend(fontsize=8)
    ax_c.set_title("components removed (below 0: the component helps)")
    return save_figure(fig, out)


# --------------------------------------------------------------------------- experiment


def run(ctx) -> dict:
    """Train and score the 8 small encoders; tables, figure and verdicts."""
    crowd, store = load_training_crowd(ctx)
    training = small_training(ctx)
    default = encoder_config()
    variants = {DEFAULT_TAG: ("embedding size", default.embed_dim, "default (ube_sim)", default)}
    for e in EMBED_DIMS:
        if e != default.embed_dim:
            variants[f"embed_{e}"] = ("embedding size", e, f"embed_dim={e}", default.replace(embed_dim=e))
    changes = {"no_spatial_attention": {"attention": "mean"}, "no_functional_readout": {"readout": "shared"},
               "last_layer_only": {"layers": (default.layers[-1],)}}
    for tag, change in changes.items():
        variants[tag] = ("component", default.embed_dim, COMPONENTS[tag][1], default.replace(**change))
    scores = [train_and_score(ctx, crowd, store, tag, cfg, training) for tag, (*_, cfg) in variants.items()]
    info = {tag: {"group": group, "embed_dim": e, "change": change}
            for tag, (group, e, change, _) in variants.items()}
    table = results_table(scores, info)
    by_tag = {s["tag"]: s for s in scores}
    sizes = {e: by_tag[DEFAULT_TAG if e == default.embed_dim else f"embed_{e}"]["test_median_r"] for e in EMBED_DIMS}
    verdicts = [embedding_size_verdict(sizes)]
    ceiling = {e: by_tag[DEFAULT_TAG if e == default.embed_dim else f"embed_{e}"]["test_median_r_over_true_ceiling"]
               for e in EMBED_DIMS}
    flat = embedding_size_verdict(ceiling)
    flat["claim"] = "Ground truth: median r / sqrt(NC) is nearly flat over E as well"
    flat["paper"] = "- (not measurable on real data)"
    verdicts.append(flat)
    ref = by_tag[DEFAULT_TAG]
    for tag, (component, change) in COMPONENTS.items():
        verdicts.append(component_verdict(component, change, ref["test_median_r"], by_tag[tag]["test_median_r"],
                                          subject_default=ref["subjects"]["median_r"].to_numpy(),
                                          subject_ablated=by_tag[tag]["subjects"]["median_r"].to_numpy()))
    trend = embedding_trend(table)
    figure = plot_ablations(table, ctx.folder / "figures" / "ablations.png")
    total = float(np.nansum(table["train_s"]) + np.nansum(table["evaluate_s"]))
    notes = [
        f"Small encoders ({ENCODER}, one setting changed each) trained on the {len(crowd.keys)} "
        f"{crowd.subjects[0].dataset} subjects {', '.join(crowd.keys)} (the transfer subject {ctx.held_out} left out) "
        f"for {training.epochs} epoch(s), batch {training.batch_size}, {training.voxels_per_image} voxels per image, "
        f"cached trunk features, seed {training.seed}: shorter than the base run, to fit the report's time budget "
        f"(all {len(scores)} runs: {total:.0f} s of training and evaluation on this machine).",
        "median r = median Pearson r over all test voxels of these subjects pooled; median r / sqrt(NC) uses the "
        "simulation's exact noise ceiling. The default run (E = 128) is the reference of every component comparison. "
        "One seed per setting: compare the differences with the run-to-run noise that the training_defaults "
        "experiment measures with a seed replicate of the same default run.",
        'Our definitions: no spatial attention = the uniform mean over a layer\'s tokens (attention="mean"); no '
        'functional readout = one readout vector shared by every voxel (readout="shared"); single layer = the '
        "trunk's last block only.",
        trend,
    ]
    return {"tables": {"runs": table, "per_subject_median_r": subjects_table(scores)},
            "figures": {"ablations": figure}, "verdicts": verdicts, "notes": notes}
