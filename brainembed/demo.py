"""The demo: the whole pipeline on the simulated crowd, in one call.

``brainembed demo --out DIR`` (and ``make demo``) runs :func:`run_demo`:

1. simulate the crowd (``DIR/data/crowd.h5``) and preview it (``DIR/figures``);
2. train the universal encoder on every subject but one 7T subject, which is
   kept for transfer learning (``DIR/run``);
3. evaluate it beside ridge regression (every subject) and single-subject
   encoders (one subject per dataset), against
   the simulation's exact noise ceilings (``DIR/run/evaluation``);
4. cluster the voxel embeddings of subjects 1 and 2 together (k = 20) and
   subdivide the place region (k = 2) (``DIR/run/clusters``), rank each
   cluster's top images as in the paper and relative to the mean voxel
   (``DIR/run/analysis/top_images``), draw the clusters on flatmaps
   (``DIR/figures``) and write the browser explorer (``DIR/explorer``);
5. transfer the encoder to the held-out subject from few images
   (``DIR/run/transfer``);
6. write ``DIR/summary.md`` with the key numbers.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from brainembed.errors import BrainembedError

#: Training settings of the demo (CPU, minutes): the frozen trunk's tokens are
#: cached once, so shift augmentation is off and an epoch costs only the head.
#: Batches of one subject's images with all its voxels (``sampling="subjects"``):
#: with the paper's 500 random voxels per image, 4 epochs left the embeddings of
#: the category regions nearly alike (k-means ARI 0.12 against 0.26). 5 epochs:
#: with the shipped trunk, validation p75 r peaks at epoch 5 (0.457; 0.450 at
#: epoch 3) and the 7T subjects' retrieval top-1 of 100 rises from 0.31-0.38
#: to 0.43-0.51 (seed 0).
DEMO_TRAINING = {"epochs": 5, "batch_size": 32, "sampling": "subjects", "feature_cache": True, "max_shift": 0,
                 "device": "auto"}
#: Smaller settings used with the ``tiny`` preset (tests).
TINY_TRAINING = {"epochs": 2, "batch_size": 16, "sampling": "subjects", "feature_cache": True, "max_shift": 0,
                 "device": "auto"}


#: Training settings of the example gallery (the ``tiny`` crowd; seconds on a laptop CPU).
EXAMPLE_TRAINING = {"epochs": 6, "batch_size": 16, "voxels_per_image": 64, "feature_cache": True, "max_shift": 0}
#: The tiny crowd's subject the examples keep out of training, for transfer learning.
EXAMPLE_HELD_OUT = "7T:3"
#: Environment variable naming the folder the examples write into.
EXAMPLES_OUT_ENV = "BRAINEMBED_EXAMPLES_OUT"

FIGURE7_CATEGORIES = ("face", "body", "indoor", "outdoor", "text", "food")
"""The categories whose clusters the paper's Figure 7 shows."""


def example_folders() -> tuple[Path, Path]:
    """The examples' output folder and its ``figures`` subfolder (created).

    The folder is ``$BRAINEMBED_EXAMPLES_OUT``; when unset, a fresh temporary
    folder is made and the variable set to it, so that examples run in one
    process share it.

    Returns
    -------
    out, figures : Path
    """
    import os
    import tempfile

    out = Path(os.environ.setdefault(EXAMPLES_OUT_ENV, tempfile.mkdtemp(prefix="brainembed-examples-")))
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    return out, figures


def example_crowd(out):
    """The tiny simulated crowd of the examples, simulated into ``out/data`` once and read back after.

    Parameters
    ----------
    out : path
        The examples' folder (:func:`example_folders`).

    Returns
    -------
    crowd : Crowd
    """
    from brainembed.data import load_crowd
    from brainembed.simulate import simulate_crowd

    store = Path(out) / "data" / "crowd.h5"
    if store.is_file():
        return load_crowd(store)
    return simulate_crowd("tiny", seed=0, out=store.parent, overwrite=True, progress=False)


def example_crowd_and_run(out):
    """The tiny crowd and a universal encoder trained on it, but for :data:`EXAMPLE_HELD_OUT`.

    What ``examples/plot_train_encoder.py`` trains; a finished run in
    ``out/run`` is read back at once (training resumes, and has nothing left
    to do).

    Parameters
    ----------
    out : path
        The examples' folder (:func:`example_folders`).

    Returns
    -------
    crowd : Crowd
    run : Path
        The run folder.
    """
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder

    out = Path(out)
    crowd = example_crowd(out)
    train_encoder(crowd.select([key for key in crowd.keys if key != EXAMPLE_HELD_OUT]), out / "run",
                  encoder="ube_sim", training=TrainConfig.from_dict(EXAMPLE_TRAINING),
                  data_path=str(out / "data" / "crowd.h5"), progress=False)
    return crowd, out / "run"


def _log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def write_preview(crowd, out_dir) -> dict:
    """Write a stimulus grid and the planted regions of the first subjects on flatmaps.

    Parameters
    ----------
    crowd : Crowd
        A simulated crowd (its voxel tables carry the ground-truth ``region``).
    out_dir : path
        Folder for the PNG files.

    Returns
    -------
    dict of figure name -> path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from brainembed.viz import plot_stimulus_grid, plot_subject_flatmaps

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    fig = plot_stimulus_grid(crowd.images.pixels, crowd.images.metadata)
    written["stimuli"] = out_dir / "stimuli_per_category.png"
    fig.savefig(written["stimuli"], dpi=110)
    plt.close(fig)

    shown = crowd.subjects[: min(2, len(crowd.subjects))]
    column = "region" if "region" in shown[0].voxels.columns else "roi"
    fig = plot_subject_flatmaps({s.key: s.voxels[column].astype(str).to_numpy() for s in shown},
                                {s.key: s.voxels for s in shown}, renderer="auto",
                                title=f"planted {column}s (ground truth)")
    written["regions"] = out_dir / "planted_regions_flatmap.png"
    fig.savefig(written["regions"], dpi=110)
    plt.close(fig)
    return written


def single_baseline_subjects(crowd) -> list[str]:
    """The first subject of every dataset (scanner): the demo's single-subject baselines."""
    first = {}
    for subject in crowd.subjects:
        first.setdefault(subject.dataset, subject.key)
    return list(first.values())


def held_out_for_transfer(crowd) -> str:
    """The last subject of the first dataset: kept out of training, for transfer learning."""
    first = crowd.subjects[0].dataset
    keys = [s.key for s in crowd.subjects if s.dataset == first]
    if len(keys) < 3:
        raise BrainembedError(f"the demo needs at least 3 subjects in dataset {first} (one is held out).")
    return keys[-1]


def run_demo(out, *, preset: str = "demo", seed: int = 0, overwrite: bool = False, encoder: str = "ube_sim",
             training: dict | None = None) -> dict:
    """Run the whole pipeline on a simulated crowd.

    Parameters
    ----------
    out : path
        Demo folder.
    preset : str
        Simulation preset (``tiny``, ``demo``, ``paper``).
    seed : int
    overwrite : bool
        Replace the outputs of an earlier demo in ``out``.
    encoder : str
        Registered encoder (default ``ube_sim``, the shipped pretrained trunk).
    training : dict, optional
        TrainConfig fields (default :data:`DEMO_TRAINING`, or :data:`TINY_TRAINING`
        for the ``tiny`` preset).

    Returns
    -------
    dict of output name -> path, plus ``timings`` (seconds per step).
    """
    from brainembed.pipeline.evaluate import evaluate_run
    from brainembed.pipeline.explore import top_images_run
    from brainembed.pipeline.explorer import write_explorer
    from brainembed.pipeline.flatmap import flatmap_run
    from brainembed.pipeline.transfer import transfer_curve
    from brainembed.simulate import simulate_crowd
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise BrainembedError(f"{out} already holds files; pass --overwrite or choose another --out.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    tiny = preset == "tiny"
    settings = TrainConfig.from_dict({**(TINY_TRAINING if tiny else DEMO_TRAINING), **(training or {}),
                                      "seed": seed})
    timings = {}
    t0 = t_step = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t_step
        now = time.perf_counter()
        timings[name] = now - t_step
        t_step = now

    _log(f"1/6 simulating the '{preset}' crowd (seed {seed})")
    crowd = simulate_crowd(preset, seed=seed, out=out / "data", progress=True)
    store = out / "data" / "crowd.h5"
    outputs = {"data": store}
    outputs.update(write_preview(crowd, out / "figures"))
    _log(f"{crowd}: store {store}, preview figures in {out / 'figures'}")
    lap("simulate")

    held_out = held_out_for_transfer(crowd)
    train_keys = [k for k in crowd.keys if k != held_out]
    _log(f"2/6 training the universal encoder ({encoder}) on {len(train_keys)} subjects; {held_out} is kept "
         f"for transfer learning")
    run = out / "run"
    result = train_encoder(crowd.select(train_keys), run, encoder=encoder, training=settings, data_path=str(store))
    outputs["run"] = run
    lap("train")

    singles = single_baseline_subjects(crowd.select(train_keys))
    _log(f"3/6 evaluating against ridge (every subject) and single-subject encoders ({', '.join(singles)}), on "
         "held-out test images")
    evaluation = evaluate_run(run, baselines=("ridge", "gabor", "single"), single_subjects=singles,
                              n_candidates=50 if tiny else 100)
    outputs["evaluation"] = evaluation["out"]
    lap("evaluate")

    _log("4/6 clustering the voxel embeddings of subjects 1 and 2 together")
    place, clusters = _cluster_pair(run, seed, tiny)
    outputs["clusters"] = clusters["out"]
    if place is not None:
        outputs["place_subdivision"] = place["out"]
    for renderer in ("pycortex", "nilearn"):
        try:
            figure = flatmap_run(run, value="clusters", subjects=["1", "2"], renderer=renderer,
                                 clusters=clusters["tag"], out=out / "figures" / f"clusters_flatmap_{renderer}.png")
            outputs[f"flatmap_{renderer}"] = figure["path"]
        except BrainembedError as err:
            _log(f"{renderer} flatmap skipped: {err}")
    site = write_explorer(run, ["1", "2"], clusters=clusters["tag"], out=out / "explorer", overwrite=True,
                          progress=False)
    outputs["explorer"] = site["path"]
    _log(f"explorer: open file://{Path(site['path']).resolve()}")
    _log("    top images ranked again, relative to the mean of the clustered voxels")
    relative = top_images_run(run, clusters["tag"], relative=True, progress=False)
    relative_place = None if place is None else top_images_run(run, place["tag"], n=8, relative=True,
                                                                progress=False)
    outputs["relative_top_images"] = relative["out"]
    lap("cluster")

    _log(f"5/6 transfer learning to {held_out} from few images")
    # transfer from few images; from scratch on as many and on the full training set (the paper's claim)
    sizes, scratch_sizes = (("10",), ("10", "all")) if tiny else (("25", "100"), ("100", "all"))
    transfer = transfer_curve(run, held_out, n_train=sizes, scratch=scratch_sizes, seeds=1)
    outputs["transfer"] = transfer["out"]
    lap("transfer")

    summary = _summary(crowd, result, evaluation, clusters, place, transfer, held_out, timings,
                       time.perf_counter() - t0, relative, relative_place)
    (out / "summary.md").write_text(summary)
    outputs["summary"] = out / "summary.md"
    print(summary, flush=True)
    _log(f"6/6 done in {time.perf_counter() - t0:.0f} s; everything is under {out} (start with {out / 'summary.md'})")
    outputs["timings"] = timings
    return outputs


def _cluster_pair(run, seed: int, tiny: bool):
    """Place-region subdivision (k = 2) and k = 20 clustering of subjects 1 and 2; the k = 20 one is the latest."""
    from brainembed.pipeline.explore import cluster_run

    place = None
    try:
        place = cluster_run(run, ["1", "2"], k=2, roi="PPA", seed=seed, n_top=8)
    except BrainembedError as err:  # tiny crowds may have too few place voxels
        _log(f"place-region subdivision skipped: {err}")
    clusters = cluster_run(run, ["1", "2"], k=6 if tiny else 20, seed=seed)
    return place, clusters


def _cluster_lines(title: str, clusters: dict, place) -> list[str]:
    lines = ["", f"## {title}: clusters of subjects 1 and 2"]
    truth = clusters.get("truth")
    if truth is not None and len(truth):
        lines += ["", "Against the planted regions:", "",
                  truth.to_string(index=False, float_format=lambda v: f"{v:.3f}")]
    per_cluster = clusters.get("truth_clusters")
    if per_cluster is not None and "dominated" in per_cluster.columns and len(per_cluster):
        matched = per_cluster["dominated"].astype(bool) & (per_cluster["top_category"] == per_cluster[
            "planted_category"])
        lines += ["", f"{int(per_cluster['dominated'].sum())} of {len(per_cluster)} clusters have top images "
                      f"dominated (>= 50 %) by one category, {int(matched.sum())} by their planted category."]
        if "planted_category_top_share" in per_cluster.columns:
            from brainembed.analysis.truth import recovered_categories

            found = recovered_categories(per_cluster, FIGURE7_CATEGORIES)
            lines += ["", f"Categories with a cluster of >= 50 % its regions' voxels whose top images are >= 50 % that "
                          f"category: {len(found)} of {len(FIGURE7_CATEGORIES)} ({', '.join(found) or 'none'})."]
    overlap = clusters.get("overlap")
    if overlap is not None and len(overlap) and "share_differ" in overlap.columns:
        lines += ["", f"fsaverage vertex indices that differ between the two subjects, median over clusters: "
                      f"{np.nanmedian(overlap['share_differ']):.0%}."]
    if place is not None and place.get("truth_clusters") is not None and len(place["truth_clusters"]):
        lines += ["", f"## {title}: place-region subdivision (k = 2)", "",
                  place["truth_clusters"].to_string(index=False, float_format=lambda v: f"{v:.3f}")]
    return lines


def _region_similarity_lines(evaluation) -> list[str]:
    """How alike the category regions of the first subject respond, predicted by each model and measured."""
    import pandas as pd

    from brainembed.simulate.cortex import REGIONS

    table = evaluation.get("region_correlations")
    if table is None or not len(table):
        return []
    # the regions of the paper's Figure 7 categories (LO, preferring objects, is not one of them)
    category_regions = [r.name for r in REGIONS if r.preferred in FIGURE7_CATEGORIES]
    first = evaluation["summary"].iloc[0]
    part = table[(table["dataset"] == first["dataset"]) & (table["subject"] == first["subject"])
                 & table["roi_a"].isin(category_regions) & table["roi_b"].isin(category_regions)]
    if not len(part):
        return []
    rows = []
    for model, pairs in part.groupby("model", sort=False):
        face_body = pairs[pairs[["roi_a", "roi_b"]].isin(["FFA", "EBA"]).all(axis=1)]
        rows.append({"model": model, "pairs": len(pairs),
                     "mean_abs_difference": float(pairs["difference"].abs().mean()),
                     "FFA_EBA_predicted": float(face_body["predicted_r"].mean()) if len(face_body) else np.nan,
                     "FFA_EBA_measured": float(face_body["measured_r"].mean()) if len(face_body) else np.nan})
    key = f"{first['dataset']}:{first['subject']}"
    return ["", f"## How alike the category regions respond ({key}, region-mean test responses)", "",
            f"Correlation over test images between two regions' mean responses, predicted vs measured, for every "
            f"pair of {', '.join(r for r in category_regions if r in set(part['roi_a']) | set(part['roi_b']))} "
            f"(`evaluation/region_correlations.csv` has every pair, subject and model):", "",
            pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}")]


def _summary(crowd, result, evaluation, clusters, place, transfer, held_out, timings, total,
             relative=None, relative_place=None) -> str:
    table = evaluation["summary"]
    lines = [f"# brainembed demo ({crowd.attrs.get('preset', '?')} crowd, {crowd})", ""]
    lines.append(f"Universal encoder: best validation p75 r {result['best_score']:.3f} at epoch "
                 f"{result['best_epoch'] + 1}.")
    lines.append("")
    cols = [c for c in ("dataset", "subject", "model", "median_r", "median_r_over_true_ceiling",
                        "median_r2_over_nc", "top1", "top5") if c in table.columns]
    lines.append("## Test-set accuracy per subject and model")
    lines.append("")
    lines.append(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    pivot = table.pivot_table(index=["dataset", "subject"], columns="model", values="median_r")
    if {"universal", "single"} <= set(pivot.columns):
        gain = (pivot["universal"] - pivot["single"]) / pivot["single"].abs()
        gain = gain.dropna()
        lines += ["", f"Joint vs single-subject median r: joint wins for {int((gain > 0).sum())} of "
                      f"{len(gain)} subjects; relative gain {gain.min():+.1%} to {gain.max():+.1%}. The demo trains "
                      "a single-subject encoder for one subject per dataset (each costs about a twelfth of the joint "
                      "run); `brainembed evaluate --run RUN --baselines ridge,gabor,single` compares every subject."]
    lines += _region_similarity_lines(evaluation)
    lines += _cluster_lines("Joint embeddings (top images ranked as in the paper)", clusters, place)
    if relative is not None:
        lines += _cluster_lines("Joint embeddings (top images ranked relative to the mean voxel)",
                                {"truth_clusters": relative["clusters"]},
                                None if relative_place is None else {"truth_clusters": relative_place["clusters"]})
    lines += ["", f"## Transfer learning to {held_out}", "",
              transfer["summary"].to_string(index=False, float_format=lambda v: f"{v:.3f}")]
    lines += ["", "## Wall time", ""] + [f"- {k}: {v:.0f} s" for k, v in timings.items()]
    lines += [f"- total: {total:.0f} s", ""]
    return "\n".join(lines)

