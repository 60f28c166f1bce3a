"""The ``brainembed`` command line: one entry point, one library call per subcommand.

Bad input is reported as one sentence on stderr with exit status 2; nothing
is overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from brainembed.errors import BrainembedError, BrainembedWarning
from brainembed.training.config import READOUT_INITS, SAMPLING

EXIT_BAD_INPUT = 2
SUBJECTS_HELP = ("Subjects (--subjects, --subject, --exclude): a key dataset:subject (3T:1) always works; a bare id "
                 "(1) only where one dataset alone has that subject, else it is refused with the candidates; "
                 "no subjects means all; a subject named twice is refused (brainembed.data.subjects).")


def _say(message: str) -> None:
    print(message, flush=True)


def _store_table(table) -> str:
    """A store's per-subject table as text: a dataset's own columns blank for the other datasets' subjects."""
    table = table.copy()
    for column in table.columns[table.isna().any()]:
        values = table[column].convert_dtypes()  # 3, not 3.0, where the other datasets' blanks made it float
        table[column] = values.astype(object).where(values.notna(), "")
    return table.to_string(index=False)


# --------------------------------------------------------------------------- commands
def _cmd_simulate(args) -> None:
    from brainembed.simulate import simulate_crowd

    overrides = dict(kv for kv in (args.set or []))
    crowd = simulate_crowd(args.preset, seed=args.seed, out=args.out, overwrite=args.overwrite,
                           progress=True, **overrides)
    _say(crowd.summary().to_string(index=False))
    _say(f"wrote the simulated crowd ({crowd.n_voxels} voxels, {len(crowd.images)} images) to {args.out}")


def _cmd_info(args) -> None:
    from brainembed.data import CrowdStore

    with CrowdStore(args.data) as store:
        table = store.summary()
        _say(f"{store.path}: {len(table)} subjects, {int(table['n_voxels'].sum())} voxels")
        _say(_store_table(table))


def _cmd_train(args) -> None:
    from brainembed.pipeline.train import train_run

    result = train_run(args.data, args.out, subjects=args.subjects, config_file=args.config, encoder=args.encoder,
                       overwrite=args.overwrite, resume=args.resume, max_steps=args.max_steps, progress=True,
                       epochs=args.epochs, device=args.device, seed=args.seed, batch_size=args.batch_size,
                       voxels_per_image=args.voxels_per_image, sampling=args.sampling, lr=args.lr,
                       readout_init=args.readout_init, compile=args.compile or None,
                       checkpoint_every=args.checkpoint_every)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        state = "finished" if result["finished"] else "stopped early (resume with --resume)"
        best = (f"best validation p75 r {result['best_score']:.3f}" if result.get("validated", True) else
                f"no subject has 3 validation images, so the best epoch is the one of lowest training loss "
                f"{-result['best_score']:.3f}")
        when = "the ridge warm start" if result["best_epoch"] < 0 else f"epoch {result['best_epoch'] + 1}"
        _say(f"training {state}: {best} ({when}), {result['seconds']:.0f} s; run written "
             f"to {result['run_dir']}")


def _cmd_evaluate(args) -> None:
    from brainembed.pipeline.evaluate import evaluate_run

    baselines = [] if args.baselines in ("", "none") else [b.strip() for b in args.baselines.split(",")]
    result = evaluate_run(args.run, data=args.data, baselines=baselines, subjects=args.subjects,
                          single_subjects=args.single_subjects, out=args.out,
                          n_candidates=args.candidates, n_repeats=args.repeats, overwrite=args.overwrite)
    columns = [c for c in ("dataset", "subject", "model", "median_r", "p25_r", "p75_r", "median_r2_over_nc",
                           "median_r_over_true_ceiling", "mse", "top1", "top5") if c in result["summary"].columns]
    _say(result["summary"][columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    _say(f"evaluation tables and figures written to {result['out']}")


def _cmd_transfer(args) -> None:
    from brainembed.pipeline.transfer import transfer_curve

    result = transfer_curve(args.run, args.subject, data=args.data, n_train=args.n_train, seeds=args.seeds,
                            out=args.out, scratch=False if args.no_scratch else (args.scratch_n_train or True),
                            overwrite=args.overwrite)
    _say(result["summary"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    _say(f"transfer curve written to {result['out']}")


def _cmd_refit(args) -> None:
    from brainembed.pipeline.refit import refit_run

    result = refit_run(args.run, args.out, args.subjects, data=args.data, lr=args.lr, max_epochs=args.max_epochs,
                       patience=args.patience, seed=args.seed, overwrite=args.overwrite)
    _say(result["table"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    _say(f"run with refitted embeddings written to {result['out']}")


def _cmd_datasets(args) -> None:
    from brainembed.pipeline.datasets import crowd_of_datasets

    training = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    result = crowd_of_datasets(args.data, args.out, targets=args.targets, added=args.add, exclude=args.exclude or (),
                               joint_run=args.joint_run, encoder=args.encoder, training=training,
                               overwrite=args.overwrite)
    columns = [c for c in ("dataset", "subject", "median_r_alone", "median_r_joint", "relative_gain",
                           "share_voxels_improved", "wilcoxon_p") if c in result["comparison"].columns]
    _say(result["comparison"][columns].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    _say(f"crowd-of-datasets comparison written to {result['out']}")


def _cmd_flatmap(args) -> None:
    from brainembed.pipeline.flatmap import flatmap_run

    result = flatmap_run(args.run, value=args.value, subjects=args.subjects, out=args.out, renderer=args.renderer,
                         clusters=args.clusters, data=args.data)
    _say(f"flatmap of {args.value} for {', '.join(result['subjects'])} ({result['renderer']}) written to "
         f"{result['path']}")


def _cmd_cluster(args) -> None:
    from brainembed.pipeline.cluster import cluster_run

    cluster_run(args.run, args.subjects, args.k, roi=args.roi, normalize=args.normalize, seed=args.seed,
                pool=args.pool, n_top=args.n_top, relative=args.relative, data=args.data, device=args.device,
                overwrite=args.overwrite)


def _cmd_top_images(args) -> None:
    from brainembed.pipeline.top_images import top_images_run

    top_images_run(args.run, args.clusters, pool=args.pool, n=args.n, relative=args.relative, data=args.data,
                   device=args.device, overwrite=args.overwrite)


def _cmd_embed_map(args) -> None:
    from brainembed.pipeline.embed_map import embed_map_run

    result = embed_map_run(args.run, args.subjects, method=args.method, color=args.color, clusters=args.clusters,
                           max_voxels=args.max_voxels or None, normalize=args.normalize, seed=args.seed,
                           data=args.data, overwrite=args.overwrite)
    if not result["separation"].empty:
        _say(result["separation"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _cmd_rsa(args) -> None:
    from brainembed.pipeline.rsa import rsa_run

    result = rsa_run(args.run, args.subjects, roi=args.roi, n_permutations=args.permutations,
                     max_voxels=args.max_voxels or None, seed=args.seed, data=args.data, device=args.device,
                     overwrite=args.overwrite)
    _say(result["table"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _reader_options(args) -> dict:
    """The reader options given on the command line, checked against the chosen format's (registry)."""
    from brainembed.data.readers import format_spec

    spec = format_spec(args.format)
    options, given = {}, []
    for option in _all_reader_options().values():
        value = getattr(args, option.keyword)
        if value is None or value is False:
            continue
        given.append(option)
        if option.kind == "switch_off":
            value = False
        elif option.kind == "ids_or_path":
            parts = [t.strip() for t in value.split(",")]
            value = [int(t) for t in parts] if all(t.isdigit() for t in parts) else Path(value)
        options[option.keyword] = value
    own = {o.keyword for o in spec.cli_options}
    foreign = [o.flag for o in given if o.keyword not in own]
    if foreign:
        raise BrainembedError(f"format {args.format!r} does not take that option ({', '.join(foreign)}; it takes "
                              f"{', '.join(o.flag for o in spec.cli_options)}).")
    return options


def _cmd_import(args) -> None:
    from brainembed.pipeline.ingest import import_dataset

    result = import_dataset(args.format, args.src, args.out, overwrite=args.overwrite, append=args.append,
                            subjects=args.subjects, progress=True, **_reader_options(args))
    _say(_store_table(result["summary"]))
    moved = result["moved"]
    if int(moved["moved_to_test"].sum()):
        changed = moved[moved["moved_to_test"] > 0]
        _say(f"moved {int(changed['moved_to_test'].sum())} rows of {len(changed)} subject(s) from training to test, "
             "so that no image is trained on for one subject and tested for another: "
             + ", ".join(f"{r.dataset}:{r.subject} {r.moved_to_test}" for r in changed.itertuples()))
    else:
        _say("split rule: no image is in training for one subject and in the test set for another (no rows moved)")
    verb = "added to" if args.append else "written to"
    _say(f"imported {args.format} from {args.src} in {result['seconds']:.0f} s; store {verb} {result['path']}")


def _cmd_pretrain(args) -> None:
    from brainembed.training.pretrain import pretrain_sim_trunk

    if args.out.exists() and not args.overwrite:
        raise BrainembedError(f"{args.out} already exists; pass --overwrite or choose another --out.")
    options = {k: v for k, v in (("n_images", args.images), ("batch_size", args.batch_size),
                                 ("passes", args.passes), ("num_threads", args.threads)) if v is not None}
    result = pretrain_sim_trunk(args.out, seed=args.seed, **options)
    _say(f"stimulus-world trunk written to {result.get('path', args.out)}")


def _cmd_explore(args) -> None:
    from brainembed.pipeline.explorer import write_explorer

    result = write_explorer(args.run, args.subjects, args.k, out=args.out, clusters=args.clusters, seed=args.seed,
                            data=args.data, overwrite=args.overwrite, device=args.device)
    _say(f"open file://{result['path'].resolve()} in a browser ({result['size_bytes'] / 1e6:.1f} MB, "
         f"clustering {result['tag']})")


def _cmd_demo(args) -> None:
    from brainembed.demo import run_demo

    run_demo(args.out, preset=args.preset, seed=args.seed, overwrite=args.overwrite)


# --------------------------------------------------------------------------- parser
def _key_value(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _all_reader_options() -> dict:
    """keyword -> ReaderOption over every registered format (one flag per keyword)."""
    from brainembed.data.readers import FORMATS

    return {o.keyword: o for spec in FORMATS.values() for o in spec.cli_options}


_OPTION_ARGS = {"text": {}, "path": {"type": Path}, "positive_int": {"type": _positive_int},
                "positive_ints": {"type": _positive_int, "nargs": "+"}, "ids_or_path": {},
                "switch_off": {"action": "store_true"}}


def _add_import_parser(sub) -> None:
    """``brainembed import``: its choices, flags and help come from the reader registry."""
    from brainembed.data.readers import COMMON_OPTIONS, FORMATS

    names = ", ".join(FORMATS)
    p = sub.add_parser("import", help=f"import a real dataset ({names}) into a crowd store, or add it to one "
                                      "(--append)",
                       description="Formats: " + "; ".join(f"{s.name}: {s.description}" for s in FORMATS.values())
                       + ". Several datasets go into one store with --append: images with the same image_key are "
                         "stored once, and an image tested for one subject is tested for every subject that saw "
                         "it (rows moved are printed).")
    p.add_argument("--format", required=True, choices=list(FORMATS), help=f"dataset format: {names}")
    p.add_argument("--src", required=True, type=Path, help="dataset folder or file (see brainembed.data.readers)")
    p.add_argument("--out", required=True, type=Path, help="output folder (crowd.h5 is written there) or .h5 file")
    modes = {"one": "read one at a time", "single": "the source's one subject, renamed by --subjects"}
    notes = "; ".join(f"{s.name}: {modes[s.subjects]}" for s in FORMATS.values() if s.subjects in modes)
    p.add_argument("--subjects", "--subject", nargs="+",
                   help="subjects to import (default: all the source holds" + (f"; {notes})" if notes else ")"))
    common = {o.keyword for o in COMMON_OPTIONS}
    for keyword, option in _all_reader_options().items():
        if keyword in common:
            text = option.help
        else:
            helps: dict[str, list[str]] = {}
            for spec in FORMATS.values():
                for o in spec.options:
                    if o.keyword == keyword:
                        helps.setdefault(o.help, []).append(spec.name)
            text = "; ".join(f"{', '.join(fmts)}: {h}" for h, fmts in helps.items())
        p.add_argument(option.flag, dest=keyword, help=text.replace("%", "%%"), **_OPTION_ARGS[option.kind])
    p.add_argument("--append", action="store_true",
                   help="add the dataset to the existing store in --out (shared images stored once; a failed "
                        "append leaves the store unchanged)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.set_defaults(func=_cmd_import)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainembed",
        description="Universal Brain Encoder: train one image-to-fMRI model on a crowd of brains "
                    "and explore its voxel embeddings.",
        epilog=SUBJECTS_HELP,
    )
    from brainembed import __version__

    parser.add_argument("--version", action="version", version=f"brainembed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("simulate", help="simulate a crowd of brains with a known ground truth")
    p.add_argument("--preset", default="demo", help="tiny, demo or paper (default: demo)")
    p.add_argument("--out", required=True, type=Path, help="output folder (crowd.h5 is written there)")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--set", type=_key_value, action="append", metavar="KEY=VALUE",
                   help="override a preset size, e.g. --set n_train=200 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("info", help="table of datasets, subjects, images, voxels and SNR in a store")
    p.add_argument("data", type=Path, help="crowd store folder or .h5 file")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train the universal encoder on the subjects of a crowd store")
    p.add_argument("--data", required=True, type=Path, help="crowd store folder or .h5 file")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--subjects", nargs="+", help="subjects to train on (default: all), e.g. 1 2 or 3T:1")
    p.add_argument("--config", type=Path, help="YAML with 'encoder' and 'training' sections (e.g. a run's config.yaml)")
    p.add_argument("--encoder", help="registered encoder name (ube_small, ube_sim, ube_paper, ...)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--voxels-per-image", type=_positive_int)
    p.add_argument("--sampling", choices=SAMPLING,
                   help="batches of mixed images with --voxels-per-image random voxels each (images, the paper's), "
                        "or of one subject's images with all its voxels (subjects)")
    p.add_argument("--lr", type=float)
    p.add_argument("--readout-init", choices=READOUT_INITS,
                   help="start the voxel embeddings and readout near zero (random, the paper's) or from per-voxel "
                        "ridge on the model's features (ridge; helps small datasets)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=_non_negative_int)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--checkpoint-every", type=_non_negative_int, help="also checkpoint every N steps")
    p.add_argument("--max-steps", type=_positive_int, help="stop after N steps (resumable)")
    p.add_argument("--resume", action="store_true", help="continue an unfinished run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run on held-out test images, beside baselines")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train`")
    p.add_argument("--data", type=Path, help="crowd store (default: the one the run trained on)")
    p.add_argument("--baselines", default="ridge,single",
                   help="comma-separated baselines: ridge, gabor, single, or none (default: ridge,single)")
    p.add_argument("--single-subjects", nargs="+",
                   help="subjects that get the single-subject baseline (default: every evaluated subject)")
    p.add_argument("--subjects", nargs="+", help="subjects to evaluate (default: all of the run's)")
    p.add_argument("--candidates", type=_positive_int, default=100, help="images per retrieval trial (default 100)")
    p.add_argument("--repeats", type=_positive_int, default=10, help="retrieval repeats (default 10)")
    p.add_argument("--out", type=Path, help="output folder (default RUN/evaluation)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("transfer", help="transfer a trained encoder to a new subject: the few-shot curve")
    p.add_argument("--run", required=True, type=Path, help="run folder of an encoder that never saw the subject")
    p.add_argument("--subject", required=True, help="the new subject (e.g. 1 or 3T:2)")
    p.add_argument("--data", type=Path, help="crowd store holding the subject (default: the run's store)")
    p.add_argument("--n-train", nargs="+", default=["100", "200", "400", "800", "all"],
                   help="numbers of training images (integers or 'all'; default 100 200 400 800 all)")
    p.add_argument("--seeds", type=_positive_int, default=5, help="repeats per N (default 5)")
    p.add_argument("--no-scratch", action="store_true", help="skip the from-scratch single-subject models")
    p.add_argument("--scratch-n-train", nargs="+",
                   help="train the from-scratch models only on these numbers of images (default: as --n-train)")
    p.add_argument("--out", type=Path, help="output folder (default RUN/transfer/SUBJECT)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_transfer)

    p = sub.add_parser("refit", help="refit trained subjects' voxel embeddings against the frozen shared weights")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train` (not modified)")
    p.add_argument("--out", required=True, type=Path, help="new run folder with the refitted embeddings")
    p.add_argument("--subjects", nargs="+", help="subjects to refit (default: all of the run's), e.g. 1 2")
    p.add_argument("--data", type=Path, help="crowd store (default: the run's)")
    p.add_argument("--lr", type=_positive_float, default=1e-2, help="embedding learning rate (default 1e-2)")
    p.add_argument("--max-epochs", type=_positive_int, default=60, help="most epochs per subject (default 60)")
    p.add_argument("--patience", type=_positive_int, default=5,
                   help="stop after this many epochs without a better validation score (default 5)")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_refit)

    p = sub.add_parser("datasets", help="crowd of datasets: train on target datasets with and without another")
    p.add_argument("--data", required=True, type=Path, help="crowd store folder or .h5 file")
    p.add_argument("--out", required=True, type=Path, help="output folder (finished parts are reused)")
    p.add_argument("--targets", nargs="+", default=["3T", "4T"], help="evaluated datasets (default 3T 4T)")
    p.add_argument("--add", nargs="+", default=["7T"], help="datasets added in the joint run (default 7T)")
    p.add_argument("--exclude", nargs="+", help="subjects left out of both runs (e.g. 7T:8)")
    p.add_argument("--joint-run", type=Path,
                   help="an existing run on targets + added subjects, used as the joint run (and its settings)")
    p.add_argument("--encoder", default="ube_sim", help="registered encoder (default ube_sim)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--seed", type=_non_negative_int)
    p.add_argument("--overwrite", action="store_true", help="retrain runs already in --out")
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("flatmap", help="draw per-voxel clusters, ROIs or accuracy of a run on cortical flatmaps")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train`")
    p.add_argument("--value", default="clusters",
                   help="what to draw: clusters, roi, region (simulation ground truth) or accuracy (default: clusters)")
    p.add_argument("--subjects", nargs="+", help="subjects to draw, e.g. 1 2 or 3T:1 (default: all of the run's)")
    p.add_argument("--out", type=Path, help="figure file, .png/.svg/.pdf (default RUN/figures/flatmap_VALUE.png)")
    p.add_argument("--renderer", default="auto",
                   help="pycortex (offline fsaverage5 subject), nilearn (flat mesh) or auto (default)")
    p.add_argument("--clusters", metavar="TAG", help="clustering under RUN/clusters (default: the latest)")
    p.add_argument("--data", type=Path, help="crowd store (default: the one the run trained on)")
    p.set_defaults(func=_cmd_flatmap)

    p = sub.add_parser("cluster", help="k-means of the voxel embeddings of several subjects together, with top "
                                       "images, sizes and fsaverage overlap")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train`")
    p.add_argument("--subjects", nargs="+",
                   help="subjects clustered together, e.g. 1 2 or 3T:1 (default: all of the run's)")
    p.add_argument("--k", type=_positive_int, default=20, help="number of clusters (default 20)")
    p.add_argument("--roi", help="cluster only this ROI's voxels (subdivision, e.g. --roi PPA --k 2)")
    p.add_argument("--normalize", action="store_true", help="L2-normalise embeddings first (cosine clustering)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="k-means seed (default 0)")
    p.add_argument("--pool", default="test", help="images ranked for top images: test, all or a folder (default test)")
    p.add_argument("--n-top", type=_non_negative_int, default=16,
                   help="top images per cluster, 0 for none (default 16)")
    p.add_argument("--relative", action="store_true",
                   help="rank images by a cluster's activation minus the mean of all clustered voxels")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (for predicting the pool)")
    p.add_argument("--data", type=Path, help="crowd store (default: the one the run trained on)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier clustering with the same settings")
    p.set_defaults(func=_cmd_cluster)

    p = sub.add_parser("top-images", help="top images of every cluster of a saved clustering over an image pool")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train`")
    p.add_argument("--clusters", default="latest", metavar="TAG", help="clustering under RUN/clusters (default latest)")
    p.add_argument("--pool", default="test", help="test, all or a folder of images (default test)")
    p.add_argument("--n", type=_positive_int, default=16, help="images per cluster (default 16)")
    p.add_argument("--relative", action="store_true",
                   help="rank images by a cluster's activation minus the mean of all clustered voxels")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--data", type=Path, help="crowd store (default: the one the run trained on)")
    p.add_argument("--overwrite", action="store_true", help="replace earlier results for this clustering and pool")
    p.set_defaults(func=_cmd_top_images)

    p = sub.add_parser("embed-map", help="t-SNE or UMAP map of voxel embeddings coloured by ROI, subject or cluster")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train`")
    p.add_argument("--subjects", nargs="+", help="subjects, e.g. 1 2 or 3T:1 (default: all of the run's)")
    p.add_argument("--method", default="tsne", help="tsne or umap (default tsne)")
    p.add_argument("--color", nargs="+", default=["roi"],
                   help="one panel per colouring: roi, subject, cluster or any voxel column (default roi)")
    p.add_argument("--clusters", default="latest", metavar="TAG",
                   help="clustering for --color cluster (default latest)")
    p.add_argument("--max-voxels", type=_non_negative_int, default=5000,
                   help="subsample larger selections (seeded; 0 = all; default 5000)")
    p.add_argument("--normalize", action="store_true", help="L2-normalise embeddings first")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--data", type=Path, help="crowd store (default: the one the run trained on)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier map of the same subjects and method")
    p.set_defaults(func=_cmd_embed_map)

    p = sub.add_parser("rsa", help="RSA per ROI: embedding vs response similarity, predicted vs measured image RDMs")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train`")
    p.add_argument("--subjects", nargs="+", help="subjects, e.g. 1 2 or 3T:1 (default: all of the run's)")
    p.add_argument("--roi", nargs="+", help="ROIs (default: every ROI of the subjects)")
    p.add_argument("--permutations", type=_positive_int, default=1000, help="permutations per test (default 1000)")
    p.add_argument("--max-voxels", type=_non_negative_int, default=500,
                   help="voxels per ROI in the embedding RSA (seeded subset; 0 = all; default 500)")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--data", type=Path, help="crowd store (default: the one the run trained on)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier RSA of the same subjects and ROIs")
    p.set_defaults(func=_cmd_rsa)

    _add_import_parser(sub)

    p = sub.add_parser("pretrain", help="reproduce the stimulus-world trunk shipped with the package")
    p.add_argument("--out", required=True, type=Path, help="weights file to write (e.g. sim_trunk.pt)")
    p.add_argument("--images", type=_positive_int, help="training images seen (default: as the shipped trunk)")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--batch-size", type=_positive_int, help="default: as the shipped trunk")
    p.add_argument("--passes", type=_positive_int,
                   help="times each drawn image is trained on, differently augmented (default: as the shipped trunk)")
    p.add_argument("--threads", type=_positive_int, help="torch threads (the result does not depend on it)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser("explore", help="write the interactive brain explorer (a static web page) of a clustering")
    p.add_argument("--run", required=True, type=Path, help="run folder written by `brainembed train`")
    p.add_argument("--subjects", nargs="+",
                   help="subjects shown, e.g. 1 2 or 3T:1 (default: 1 and 2, or all of --clusters' subjects)")
    p.add_argument("--k", type=_positive_int, default=20,
                   help="clusters (default 20); the clustering is made first if the run lacks it")
    p.add_argument("--clusters", metavar="TAG", help="use this clustering under RUN/clusters (or 'latest') instead")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="k-means seed (default 0)")
    p.add_argument("--out", type=Path, help="site folder (default RUN/explorer/TAG); index.html is written there")
    p.add_argument("--data", type=Path, help="crowd store with the images (default: the one the run trained on)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (when a clustering must be made)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index.html")
    p.set_defaults(func=_cmd_explore)

    p = sub.add_parser("demo", help="run the whole pipeline on the simulated crowd")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    p.add_argument("--preset", default="demo")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier demo")
    p.set_defaults(func=_cmd_demo)
    return parser


def _describe_os_error(err: OSError) -> str:
    """One sentence for a failed file operation."""
    reason = (err.strerror or str(err) or type(err).__name__).strip().splitlines()[0]
    if err.filename is not None:
        return f"cannot use {err.filename}: {reason}."
    return f"{reason}."


def _one_line_warnings(command: str, fallback):
    """A ``warnings.formatwarning`` that writes brainembed's own warnings as one line, like its errors.

    Formatting, not showing, is replaced, so code that records warnings
    (``warnings.catch_warnings(record=True)``, ``pytest.warns``) still gets them.
    """
    def format(message, category, filename, lineno, line=None):
        if issubclass(category, BrainembedWarning):
            return f"brainembed {command}: warning: {message}\n"
        return fallback(message, category, filename, lineno, line)
    return format


def main(argv=None) -> int:
    """Run the command line; return the exit status (0 ok, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        formatwarning = warnings.formatwarning
        warnings.formatwarning = _one_line_warnings(args.command, formatwarning)
        try:
            args.func(args)
        finally:
            warnings.formatwarning = formatwarning
    except BrainembedError as err:
        print(f"brainembed {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:  # a path that cannot be read or written (permissions, a file in the way, a full disk)
        print(f"brainembed {args.command}: error: {_describe_os_error(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"brainembed {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
