"""The training loop: one encoder for all subjects, resumable at any step.

:func:`train_encoder` is what ``brainembed train`` calls. It works the same
on CPU and CUDA, in one process or under ``torchrun`` (DDP), and writes
everything into one run folder (:mod:`brainembed.training.run`).
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brainembed.config import EncoderConfig
from brainembed.data import Crowd
from brainembed.errors import BrainembedError
from brainembed.training.augment import shift_images
from brainembed.training.checkpoint import checkpoint_entries, load_checkpoint, load_weights, save_checkpoint
from brainembed.training.config import TrainConfig
from brainembed.training.distributed import DistributedContext, init_distributed, resolve_device
from brainembed.training.loss import encoder_loss
from brainembed.training.predict import predict_subject
from brainembed.training.run import RunConfig, RunDirectory, store_fields
from brainembed.training.sampler import make_sampler, split_validation

EPOCH_FIELDS = ("epoch", "step", "train_loss", "val_median_r", "val_p75_r", "lr", "seconds", "best")
STEP_FIELDS = ("epoch", "step", "global_step", "loss", "lr")


class _ImagesToVoxels(nn.Module):
    """The module DDP wraps: images, or cached features at ``level``, and voxel indices -> predictions."""

    def __init__(self, encoder: nn.Module, level: str | None = None):
        super().__init__()
        self.encoder = encoder
        self.level = level

    def forward(self, inputs: torch.Tensor, voxel_index: torch.Tensor) -> torch.Tensor:
        if self.level is None:
            return self.encoder(inputs, voxel_index)
        features = self.encoder.projection(inputs) if self.level == "backbone" else inputs
        return self.encoder.forward_head(features, voxel_index)


def _resolve_encoder_config(encoder, n_voxels: int) -> EncoderConfig:
    from brainembed.models import get_encoder_config

    config = get_encoder_config(encoder) if isinstance(encoder, str) else encoder
    if not isinstance(config, EncoderConfig):
        raise BrainembedError(f"encoder must be a registered name or an EncoderConfig, got {type(encoder).__name__}.")
    return config.replace(n_voxels=int(n_voxels))


#: A subject's validation images are scored only from this many on (a correlation over fewer says nothing).
MIN_VALIDATION_IMAGES = 3


def _validation_score(model, crowd: Crowd, val_rows: dict, device, config: TrainConfig,
                      cache=None) -> tuple[float, float]:
    """Median and 75th percentile of voxel correlations on held-out training images, all subjects pooled."""
    from brainembed.evaluation.metrics import pearson_per_voxel

    correlations = []
    for subject in crowd.subjects:
        rows = val_rows[subject.key]
        if rows.size < MIN_VALIDATION_IMAGES:
            continue
        pred = predict_subject(model, crowd, subject.key, rows, device=device, voxel_chunk=config.predict_chunk,
                               bf16=config.bf16, cache=cache)
        correlations.append(pearson_per_voxel(pred, subject.responses[rows]))
    if not correlations:
        return float("nan"), float("nan")
    r = np.concatenate(correlations)
    return float(np.median(r)), float(np.percentile(r, 75))


def _truncate_csv(path: Path, fields, keep) -> None:
    """Drop rows logged after the checkpoint a run resumes from."""
    if not path.is_file():
        return
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if keep(row)]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _append_csv(path: Path, fields, row: dict) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)


def make_adam(params, *, lr: float, weight_decay: float = 0.0, amsgrad: bool = True) -> torch.optim.Adam:
    """Adam with the fused kernel where the parameters' device supports it (about 6x faster on CPU).

    The fused kernel updates every parameter, including the whole voxel-embedding
    table, in one pass; results match the loop implementation up to float rounding.
    """
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad, fused=True)
    except (RuntimeError, ValueError):  # device or dtype without a fused kernel
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad)


def _same_settings(run: RunDirectory, config: RunConfig) -> bool:
    """Whether a run folder holds ``config``; the store counts as the same wherever the run finds it."""
    stored = run.read_config()
    unplaced = {"data": "", "data_relative": ""}
    if stored.replace(**unplaced).to_dict() != config.replace(**unplaced).to_dict():
        return False
    if not (stored.data and config.data):
        return stored.data == config.data
    try:
        found = run.store_path()
    except BrainembedError:  # moved away: only the very same recorded path matches
        return stored.data == config.data
    return os.path.realpath(found) == os.path.realpath(config.data)


def _check_run(run: RunDirectory, config: RunConfig, overwrite: bool, resume: bool) -> bool:
    """Decide whether to start afresh or resume (read-only, so every DDP rank can run it). True to resume."""
    if not run.exists() or overwrite:
        return False
    if not _same_settings(run, config):
        raise BrainembedError(f"{run.path} holds a run with a different configuration; resume it with the same "
                              f"settings, or pass --overwrite, or choose another --out.")
    if not run.last.is_file():
        return False
    if not resume:
        raise BrainembedError(f"{run.path} already holds a run; pass --resume to continue it or --overwrite to "
                              f"replace it.")
    return True


def _start_run(run: RunDirectory, config: RunConfig, overwrite: bool) -> None:
    """Write the resolved configuration of a new run (main process only)."""
    if overwrite:
        for path in (run.last, run.best, run.metrics, run.steps):
            path.unlink(missing_ok=True)
    run.write_config(config)


def train_encoder(crowd: Crowd, out, *, encoder="ube_small", training: TrainConfig | None = None,
                  data_path: str = "", overwrite: bool = False, resume: bool = True, max_steps: int | None = None,
                  progress: bool = True) -> dict:
    """Train one encoder on all subjects of a crowd.

    Parameters
    ----------
    crowd : Crowd
        Subjects to train on; their order fixes the embedding table.
    out : path
        Run folder. An unfinished run with the same configuration is resumed
        from its ``last`` checkpoint exactly where it stopped.
    encoder : str or EncoderConfig
        Registered encoder name (``ube_small``, ``ube_paper``, ...) or a config.
    training : TrainConfig, optional
    data_path : str
        Where the crowd was read from (recorded in the run's config, absolute and relative to the run
        folder).
    overwrite : bool
        Discard an existing run in ``out``.
    resume : bool
        Continue an existing run with the same configuration.
    max_steps : int, optional
        Stop after this many optimisation steps in this call; the run stays
        resumable (used to split long jobs and in tests).
    progress : bool
        Show a progress bar (main process only).

    Returns
    -------
    dict with ``run_dir``, ``best_score`` (validation 75th-percentile r; minus
    the mean training loss when ``validated`` is False), ``best_epoch`` (-1:
    the ridge warm start, before the first step),
    ``finished`` (all epochs done), ``seconds``, ``validated`` (whether any
    subject has :data:`MIN_VALIDATION_IMAGES` validation images, else epochs
    are compared by training loss).

    Raises
    ------
    BrainembedError
        If an image is a training image of one subject and a test image of
        another (:func:`brainembed.data.check_no_leakage`), among other bad input.
    """
    from brainembed.data.splits import check_no_leakage

    check_no_leakage(crowd)  # an image trained on for one subject must not be tested for another
    training = training or TrainConfig()
    context = init_distributed(training.device)
    try:
        return _train(crowd, Path(out), encoder, training, data_path, overwrite, resume, max_steps, progress,
                      context)
    finally:
        context.close()


def _train(crowd, out, encoder, training, data_path, overwrite, resume, max_steps, progress,
           context: DistributedContext) -> dict:
    from brainembed.models import create_encoder

    device = resolve_device(training.device, context)
    if context.world_size > training.batch_size:
        raise BrainembedError(f"batch_size {training.batch_size} is smaller than the number of processes "
                              f"({context.world_size}).")
    run = RunDirectory(out)
    config = RunConfig(encoder=_resolve_encoder_config(encoder, crowd.n_voxels), training=training,
                       subjects=tuple(crowd.keys), voxels_per_subject=tuple(int(s.n_voxels) for s in crowd.subjects),
                       **store_fields(data_path, run.path))
    resuming = _check_run(run, config, overwrite, resume)
    context.barrier()
    if context.is_main and not resuming:
        _start_run(run, config, overwrite)
    context.barrier()

    torch.manual_seed(training.seed)
    encoder_model = create_encoder(config.encoder).to(device)
    optimiser = make_adam(encoder_model.param_groups(training.lr, training.embedding_lr_mult), lr=training.lr,
                          weight_decay=training.weight_decay, amsgrad=training.amsgrad)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, mode="max", factor=training.plateau_factor,
                                                           patience=training.plateau_patience)
    start_epoch, start_step, best_score, best_epoch = 0, 0, -np.inf, -1
    if resuming:
        state = load_checkpoint(run.last, map_location=device)
        checkpoint_entries(state, ["model", "optimizer", "scheduler", "epoch", "step", "best_score", "best_epoch"],
                           run.last)
        load_weights(encoder_model, state["model"], run.last)
        optimiser.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, start_step = int(state["epoch"]), int(state["step"])
        best_score, best_epoch = float(state["best_score"]), int(state["best_epoch"])
        if context.is_main:
            _truncate_csv(run.metrics, EPOCH_FIELDS, lambda row: int(row["epoch"]) < start_epoch)
            _truncate_csv(run.steps, STEP_FIELDS, lambda row: (int(row["epoch"]), int(row["step"]))
                          < (start_epoch, start_step))

    cache = _open_cache(encoder_model, crowd, training, data_path, run, device, context, progress) \
        if training.feature_cache else None
    splits = split_validation(crowd, training.val_fraction, training.seed)
    warm_started = not resuming and _use_ridge_start(training.readout_init, encoder_model, splits, crowd)
    if warm_started:
        _warm_start(encoder_model, crowd, splits, cache, device, training.seed, progress and context.is_main)
    wrapped = _ImagesToVoxels(encoder_model, cache.level if cache is not None else None)
    if context.enabled:
        wrapped = nn.parallel.DistributedDataParallel(
            wrapped, device_ids=[device.index] if device.type == "cuda" else None)
    if training.compile:
        wrapped = torch.compile(wrapped)

    sampler = make_sampler(crowd, {k: v[0] for k, v in splits.items()}, training, context.world_size)
    val_rows = {k: v[1] for k, v in splits.items()}
    use_bf16 = training.bf16 and device.type == "cuda"
    writer = _tensorboard(run) if training.tensorboard and context.is_main else None

    def save_last(epoch: int, step: int) -> None:
        if context.is_main:
            save_checkpoint({"model": encoder_model.state_dict(), "optimizer": optimiser.state_dict(),
                             "scheduler": scheduler.state_dict(), "epoch": epoch, "step": step,
                             "best_score": float(best_score), "best_epoch": int(best_epoch)}, run.last)
        context.barrier()

    if warm_started:  # the warm start is the first candidate for the best checkpoint
        median_r = p75_r = float("nan")
        if context.is_main:
            median_r, p75_r = _validation_score(encoder_model, crowd, val_rows, device, training, cache)
        p75_r = _broadcast(context, p75_r, device)
        if np.isfinite(p75_r):
            best_score, best_epoch = p75_r, -1
            if context.is_main:
                save_checkpoint({"model": encoder_model.state_dict(), "epoch": -1, "score": float(p75_r)}, run.best)
                _append_csv(run.metrics, EPOCH_FIELDS, {
                    "epoch": -1, "step": 0, "train_loss": "nan", "val_median_r": f"{median_r:.6g}",
                    "val_p75_r": f"{p75_r:.6g}", "lr": optimiser.param_groups[0]["lr"], "seconds": "0", "best": 1})
                if progress:
                    print(f"warm start: validation median r {median_r:.3f}, p75 r {p75_r:.3f}", flush=True)

    t_start = time.perf_counter()
    steps_done = 0
    n_steps = len(sampler)
    finished = True
    for epoch in range(start_epoch, training.epochs):
        wrapped.train()
        losses = []
        bar = _progress(progress and context.is_main, n_steps, start_step, f"epoch {epoch + 1}/{training.epochs}")
        for step in range(start_step, n_steps):
            if max_steps is not None and steps_done >= max_steps:
                finished = False
                break
            batch = sampler.batch(epoch, step, context.rank, context.world_size)
            torch.manual_seed(batch.seed)
            if cache is not None:  # cached features of the unshifted images
                images = cache.get(batch.image_ids, device)
            else:
                images = encoder_model.preprocess(crowd.images.get(batch.image_ids)).to(device)
                images = shift_images(images, batch.shifts)
            voxel_index = torch.from_numpy(batch.voxel_index).to(device)
            targets = torch.from_numpy(batch.targets).to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                pred = wrapped(images, voxel_index)
            loss = encoder_loss(pred, targets, training.cosine_weight)
            if not torch.isfinite(loss):
                raise BrainembedError(f"the training loss became {loss.item()} at epoch {epoch + 1}, step "
                                      f"{step + 1}; lower the learning rate.")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            steps_done += 1
            loss_value = context.mean(loss.item())
            losses.append(loss_value)
            global_step = epoch * n_steps + step
            if context.is_main:
                lr = optimiser.param_groups[0]["lr"]
                _append_csv(run.steps, STEP_FIELDS, {"epoch": epoch, "step": step, "global_step": global_step,
                                                      "loss": f"{loss_value:.8g}", "lr": lr})
                if writer is not None:
                    writer.add_scalar("train/loss", loss_value, global_step)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}")
            if training.checkpoint_every and (step + 1) % training.checkpoint_every == 0 and step + 1 < n_steps:
                save_last(epoch, step + 1)
        if bar is not None:
            bar.close()
        if not finished:
            save_last(epoch, step)
            break
        start_step = 0
        median_r = p75_r = float("nan")
        if context.is_main:
            median_r, p75_r = _validation_score(encoder_model, crowd, val_rows, device, training, cache)
        p75_r = _broadcast(context, p75_r, device)
        score = p75_r if np.isfinite(p75_r) else -float(np.mean(losses))
        scheduler.step(score)
        improved = score > best_score
        if improved:
            best_score, best_epoch = score, epoch
            if context.is_main:
                save_checkpoint({"model": encoder_model.state_dict(), "epoch": epoch, "score": float(score)},
                                run.best)
        save_last(epoch + 1, 0)
        if context.is_main:
            row = {"epoch": epoch, "step": n_steps, "train_loss": f"{np.mean(losses):.6g}",
                   "val_median_r": f"{median_r:.6g}", "val_p75_r": f"{p75_r:.6g}",
                   "lr": optimiser.param_groups[0]["lr"], "seconds": f"{time.perf_counter() - t_start:.3f}",
                   "best": int(improved)}
            _append_csv(run.metrics, EPOCH_FIELDS, row)
            if writer is not None:
                writer.add_scalar("val/p75_r", p75_r, epoch)
                writer.add_scalar("val/median_r", median_r, epoch)
            if progress:
                print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, validation median r {median_r:.3f}, "
                      f"p75 r {p75_r:.3f}{' (best)' if improved else ''}", flush=True)
    if writer is not None:
        writer.close()
    validated = any(rows.size >= MIN_VALIDATION_IMAGES for rows in val_rows.values())
    return {"run_dir": run.path, "best_score": float(best_score), "best_epoch": int(best_epoch),
            "finished": finished, "seconds": time.perf_counter() - t_start, "validated": validated}


def _open_cache(model, crowd, training, data_path, run, device, context, progress):
    """Build (main process) or open (other ranks) the feature cache of every image of the crowd."""
    from brainembed.training.feature_cache import build_feature_cache, cache_level

    level = cache_level(model)
    folder = Path(data_path).parent / "feature_cache" if data_path else run.path / "feature_cache"
    if data_path and not os.access(folder.parent, os.W_OK):
        folder = run.path / "feature_cache"
    ids = np.unique(np.concatenate([s.image_ids for s in crowd.subjects]))
    if training.max_shift and context.is_main and progress:
        print("feature cache in use: shift augmentation is skipped (features are of unshifted images)", flush=True)
    cache = None
    if context.is_main:
        cache = build_feature_cache(model, crowd.images, ids, folder, level=level, device=device,
                                    progress=progress)
    context.barrier()
    if cache is None:
        cache = build_feature_cache(model, crowd.images, ids, folder, level=level, device=device)
    return cache


def _use_ridge_start(readout_init: str, model, splits: dict, crowd) -> bool:
    """Whether the readout starts from ridge (``TrainConfig.readout_init``; ``"auto"`` decides by data size)."""
    from brainembed.training.config import AUTO_RIDGE_MAX_IMAGES

    if readout_init != "auto":
        return readout_init == "ridge"
    if getattr(model.head.readout, "mode", None) != "linear" or not hasattr(model.head.readout, "weight"):
        return False
    ids = np.unique(np.concatenate([crowd.subject(k).image_ids[rows] for k, (rows, _) in splits.items()]))
    return ids.size < AUTO_RIDGE_MAX_IMAGES


def _warm_start(model, crowd, splits, cache, device, seed: int, verbose: bool) -> None:
    """Ridge warm start of the readout (every rank computes the same weights; DDP also syncs them)."""
    from brainembed.training.warm_start import ridge_warm_start

    def features_of(ids):
        if cache is not None:
            inputs = cache.get(ids, device)
            return model.projection(inputs) if cache.level == "backbone" else inputs
        return model.forward_features(model.preprocess(crowd.images.get(ids)).to(device))

    info = ridge_warm_start(model, crowd, {k: v[0] for k, v in splits.items()}, features_of, seed=seed)
    if verbose:
        print(f"readout warm start: rank {info['rank']} keeps {info['explained']:.1%} of the ridge weights "
              f"(median penalty {info['median_alpha']:.3g})", flush=True)


def _broadcast(context: DistributedContext, value: float, device) -> float:
    if not context.enabled:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def _progress(enabled: bool, total: int, initial: int, description: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, leave=False, dynamic_ncols=True)


def _tensorboard(run: RunDirectory):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise BrainembedError("training.tensorboard needs the 'tensorboard' package (pip install tensorboard).") \
            from None
    return SummaryWriter(log_dir=str(run.path / "tensorboard"))
