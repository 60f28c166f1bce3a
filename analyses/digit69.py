"""Real fMRI check on digit69: the small universal encoder vs ridge baselines on 10 test images.

The dataset (``digit69_28x28.mat``: 100 handwritten 6s and 9s, 28 x 28 px,
3092 early-visual voxels of one subject, 90 training / 10 test images) is
imported with ``brainembed import --format digits``; then, for each seed:

- ``encoder``: a registered encoder trained with :func:`brainembed.training.loop.train_encoder`
  on the 90 training images (10 % held out for validation / early stopping):
  ``ube_small`` (a 4-block ViT trained from scratch) or ``ube_sim`` (the
  shipped trunk pretrained on the simulated stimulus world, frozen, only the
  projection and voxel head trained; use ``--feature-cache``);
- ``ridge_backbone``: ridge (per-voxel penalty by 5-fold CV) on the trained
  encoder's pooled backbone tokens (:func:`brainembed.training.predict.backbone_features`);

and once (deterministic given the data):

- ``ridge_pixels``: ridge on the 784 pixel intensities;
- ``ridge_gabor``: ridge on Gabor-energy features (a V1-style model).

Each model is scored on the 10 test images by the Pearson r of every voxel;
reported: the median over all voxels and over the voxels ridge-on-pixels
predicts above 0 (``median_r_pix_pos``), with 25th / 75th percentiles.
Written into ``OUT``: ``voxel_r.csv`` (one row per voxel, model and seed),
``summary.csv`` and ``summary.txt``.

Usage::

    python analyses/digit69.py --data ../shared/data/digit69_28x28.mat --out runs/digit69 \
        --epochs 40 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def _scores(model: str, seed, r: np.ndarray, positive: np.ndarray) -> dict:
    p25, med, p75 = np.percentile(r, [25, 50, 75])
    return {"model": model, "seed": seed, "median_r": float(med), "p25": float(p25), "p75": float(p75),
            "median_r_pix_pos": float(np.median(r[positive])), "n_pix_pos": int(positive.sum())}


def run(data, out, *, encoder: str = "ube_small", epochs: int = 40, seeds=(0,), batch_size: int = 16,
        voxels_per_image: int = 3092, lr: float = 1e-3, feature_cache: bool = False,
        readout_init: str | None = None, transfer_run=None, progress: bool = True) -> pd.DataFrame:
    """Train and score every model; return the per-seed summary table.

    With ``transfer_run`` (a run trained on other subjects, e.g. the demo's
    simulated crowd), digit69 is also fitted as a new subject of that run:
    only its voxel embeddings are learnt (the paper's transfer learning,
    :func:`~brainembed.training.transfer.fit_new_subject`), once per seed.
    """
    from brainembed.data import load_crowd
    from brainembed.evaluation import RidgeEncoder
    from brainembed.evaluation.metrics import pearson_per_voxel
    from brainembed.pipeline.ingest import import_dataset
    from brainembed.simulate.gabor import gabor_energy_features
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder
    from brainembed.training.predict import backbone_features, predict_subject
    from brainembed.training.run import load_encoder

    out = Path(out)
    store = out / "store"
    if not (store / "crowd.h5").exists():
        import_dataset("digits", data, store)
    crowd = load_crowd(store)
    key = crowd.keys[0]
    subject = crowd.subject(key)
    train, test = subject.rows("train"), subject.rows("test")
    pixels = crowd.images.get(subject.image_ids)
    true = subject.responses[test]

    def ridge(features, seed=0):
        fit = RidgeEncoder(random_state=seed).fit(features[train], subject.responses[train])
        return pearson_per_voxel(fit.predict(features[test]), true)

    voxel_rows, summary = [], []
    r_pix = ridge(pixels[..., 0].reshape(len(pixels), -1).astype(np.float32) / 255.0)
    positive = r_pix > 0
    r_gabor = ridge(gabor_energy_features(pixels))
    for name, r in (("ridge_pixels", r_pix), ("ridge_gabor", r_gabor)):
        summary.append(_scores(name, "-", r, positive))
        voxel_rows.append(pd.DataFrame({"model": name, "seed": "-", "voxel": np.arange(r.size), "r": r}))
    for seed in seeds:
        run_dir = out / f"{encoder}_seed{seed}"
        training = TrainConfig(epochs=epochs, batch_size=batch_size, voxels_per_image=voxels_per_image, lr=lr,
                               seed=int(seed), device="cpu", feature_cache=feature_cache)
        if readout_init is not None:
            training = training.replace(readout_init=readout_init)
        train_encoder(crowd, run_dir, encoder=encoder, training=training, data_path=str(store), progress=progress)
        model, _ = load_encoder(run_dir, "best")
        r_enc = pearson_per_voxel(predict_subject(model, crowd, key, test), true)
        r_bb = ridge(backbone_features(model, pixels), seed=int(seed))
        for name, r in ((f"encoder ({encoder})", r_enc), ("ridge_backbone", r_bb)):
            summary.append(_scores(name, seed, r, positive))
            voxel_rows.append(pd.DataFrame({"model": name, "seed": seed, "voxel": np.arange(r.size), "r": r}))
    if transfer_run is not None:
        from brainembed.training.feature_cache import build_feature_cache
        from brainembed.training.run import RunDirectory
        from brainembed.training.transfer import fit_new_subject, predict_new_subject

        crowd_model = RunDirectory.of(transfer_run).load_encoder("best")
        cache = build_feature_cache(crowd_model, crowd.images, subject.image_ids, out / "transfer_feature_cache",
                                    level="trunk", progress=progress)
        for seed in seeds:
            fitted = fit_new_subject(crowd_model, crowd, key, train, cache=cache, seed=int(seed))
            pred = predict_new_subject(crowd_model, crowd, key, fitted["embeddings"], fitted["bias"], test,
                                       cache=cache)
            r = pearson_per_voxel(pred, true)
            name = "transfer from the crowd run"
            summary.append(_scores(name, seed, r, positive))
            voxel_rows.append(pd.DataFrame({"model": name, "seed": seed, "voxel": np.arange(r.size), "r": r}))
    table = pd.DataFrame(summary)
    pd.concat(voxel_rows, ignore_index=True).to_csv(out / "voxel_r.csv", index=False)
    table.to_csv(out / "summary.csv", index=False)
    means = table.groupby("model", sort=False)[["median_r", "median_r_pix_pos", "p25", "p75"]].agg(["mean", "std"])
    (out / "summary.txt").write_text(means.round(3).to_string() + "\n")
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/"
                        "digit69_28x28.mat")
    parser.add_argument("--out", type=Path, default=Path("runs/digit69"))
    parser.add_argument("--encoder", default="ube_small")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--voxels-per-image", type=int, default=3092)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--readout-init", choices=("random", "ridge"),
                        help="how the readout starts (default: TrainConfig's)")
    parser.add_argument("--feature-cache", action="store_true",
                        help="cache the frozen trunk's features (encoders with a frozen trunk and no adapter)")
    parser.add_argument("--transfer-run", type=Path,
                        help="also fit digit69 as a new subject of this run (e.g. the demo's run on the simulated "
                             "crowd): embeddings only, every shared weight frozen")
    args = parser.parse_args(argv)
    table = run(args.data, args.out, encoder=args.encoder, epochs=args.epochs, seeds=args.seeds,
                batch_size=args.batch_size, voxels_per_image=args.voxels_per_image, lr=args.lr,
                feature_cache=args.feature_cache, readout_init=args.readout_init, transfer_run=args.transfer_run)
    with pd.option_context("display.width", 160):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(table.groupby("model", sort=False)[["median_r", "median_r_pix_pos"]].agg(["mean", "std"]).round(3))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
