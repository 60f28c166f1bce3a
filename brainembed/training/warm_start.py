"""Closed-form warm start of the voxel readout (``TrainConfig.readout_init="ridge"``).

The released code starts the voxel embeddings and the functional readout F
near zero (std 0.1/32 and 1e-3). Their product, each voxel's readout weights
``w_v = e_v F``, then grows only after many optimisation steps: with NSD's
tens of thousands of steps per epoch that costs nothing, but with a small
dataset (digit69: 81 training images, 5 steps an epoch) the encoder is still
near its starting point when validation stops it, and ridge regression on the
same trunk's features predicts far better.

The warm start solves the readout in closed form before the first step:

1. The spatial attention's query projections are set to zero, so every voxel
   attends uniformly to the patch tokens (attention logits are exactly 0 and
   their gradients are not: training moves the attention away from uniform).
2. Each training image's per-layer features ``h_l = MLP_l(mean over tokens)``
   are computed with the model's own projection and MLPs (dropout off). These
   are exactly the features the readout weighs while attention is uniform.
3. For each subject, ridge regression (one penalty per voxel by efficient
   leave-one-out, scikit-learn's ``RidgeCV``) maps them to the responses of
   the subject's training images (validation images excluded); the weights
   minimise the ridge loss averaged over draws of the MLPs' dropout, the loss
   training sees. With no per-voxel bias in the head (the released code has
   none), the ridge has no intercept either, so the head reproduces its
   predictions exactly.
4. The stacked weights of all voxels, ``W`` of shape (L·C, N), are factorised
   by a truncated SVD into embeddings (N, E) and F (E, L·C), the best rank-E
   approximation: ``e_v F`` is each voxel's ridge solution when E ≥ rank(W).
   Embeddings are scaled to unit RMS norm per voxel; the ridge intercepts go
   to the per-voxel bias when the table has one.

The encoder starts where a linear model on its own features ends, and
gradient descent only has to improve on it.
"""

from __future__ import annotations

import numpy as np
import torch

from brainembed.errors import BrainembedError

__all__ = ["ridge_warm_start", "uniform_features"]


def uniform_features(model, features: torch.Tensor) -> torch.Tensor:
    """Readout features of images under uniform attention.

    Parameters
    ----------
    model : UniversalBrainEncoder
    features : tensor of shape (B, L, P, C)
        Projected image features (the head's input).

    Returns
    -------
    tensor of shape (B, L·C)
        ``[MLP_1(mean_P x_1), ..., MLP_L(mean_P x_L)]``, in eval mode.
    """
    head = model.head
    pooled = features.mean(dim=2)  # (B, L, C)
    return torch.cat([mlp(pooled[:, layer]) for layer, mlp in enumerate(head.mlps)], dim=-1)


def _check_supported(model) -> None:
    head = model.head
    readout = head.readout
    if getattr(readout, "mode", None) != "linear" or not hasattr(readout, "weight") or readout.weight.ndim != 2:
        raise BrainembedError("readout_init='ridge' needs the linear functional readout (readout='linear').")


def _zero_queries(attention) -> None:
    """Uniform attention: every query projection set to zero (mean attention has none)."""
    for query in getattr(attention, "queries", ()):
        torch.nn.init.zeros_(query.weight)
        torch.nn.init.zeros_(query.bias)


#: Candidate penalties, on features scaled to unit standard deviation.
ALPHAS = np.logspace(-2, 6, 17)


def _ridge(features: np.ndarray, noisy, responses: np.ndarray, *, fit_intercept: bool):
    """Per-voxel ridge: penalty by efficient leave-one-out (scikit-learn's RidgeCV), weights robust to dropout.

    The penalty of each voxel is chosen on the clean features. The weights
    then solve the same ridge problem averaged over the dropout draws in
    ``noisy``: the expected loss under dropout, which is what training
    minimises, so that switching dropout on does not blow up the prediction
    (with weights fitted to clean features only, dropout tripled the
    predictions' spread on digit69 and doubled the training loss). Without an
    intercept (a head without per-voxel bias) features are scaled, not
    centred, so ``features @ coef`` is the whole prediction.

    Parameters
    ----------
    features : array of shape (n_images, n_features)
        Features without dropout.
    noisy : iterable of arrays of shape (n_images, n_features), or None
        The same features under independent dropout draws, one array per
        draw, consumed one at a time (None: no dropout).
    responses : array of shape (n_images, n_voxels)
    fit_intercept : bool

    Returns
    -------
    coef : array of shape (n_features, n_voxels)
        Weights on the raw features.
    intercept : array of shape (n_voxels,)
    alpha : array of shape (n_voxels,)
        Selected penalties (on unit-variance features).
    """
    from sklearn.linear_model import RidgeCV

    n_voxels = responses.shape[1]
    scale = features.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    fit = RidgeCV(alphas=ALPHAS, fit_intercept=fit_intercept, alpha_per_target=True).fit(features / scale,
                                                                                           responses)
    alpha = np.broadcast_to(np.asarray(fit.alpha_, dtype=np.float64), (n_voxels,))
    if noisy is None:
        coef = np.atleast_2d(fit.coef_).T / scale[:, None]
        intercept = np.broadcast_to(np.asarray(fit.intercept_, dtype=np.float64), (n_voxels,))
        return coef, intercept, alpha
    n_features = features.shape[1]
    # dropout keeps the mean, so the clean features centre every draw
    mean_x = features.mean(axis=0) / scale if fit_intercept else np.zeros(n_features)
    mean_y = responses.mean(axis=0) if fit_intercept else np.zeros(n_voxels)
    gram, cross, n_draws = np.zeros((n_features, n_features)), np.zeros((n_features, n_voxels)), 0
    for draw in noisy:
        x = draw / scale - mean_x
        gram += x.T @ x
        cross += x.T @ (responses - mean_y)
        n_draws += 1
    gram, cross = gram / n_draws, cross / n_draws
    coef = np.empty((n_features, n_voxels))
    for value in np.unique(alpha):
        cols = alpha == value
        coef[:, cols] = np.linalg.solve(gram + value * np.eye(gram.shape[0]), cross[:, cols])
    intercept = mean_y - mean_x @ coef
    return coef / scale[:, None], intercept, alpha


def _stack(model, features: list) -> np.ndarray:
    """:func:`uniform_features` of batches of features, concatenated, float64."""
    return np.concatenate([uniform_features(model, f).float().cpu().numpy() for f in features]).astype(np.float64)


def _dropout_draws(model, features: list, n_draws: int):
    """Yield :func:`_stack` of the features with the MLPs' dropout on, ``n_draws`` times."""
    mlps = model.head.mlps
    for _ in range(n_draws):
        mlps.train()
        try:
            yield _stack(model, features)
        finally:
            mlps.eval()


@torch.no_grad()
def ridge_warm_start(model, crowd, train_rows: dict, features_of, *, seed: int = 0, dropout_draws: int = 16,
                     image_batch: int = 64) -> dict:
    """Set the voxel embeddings, F and the biases to the rank-E factorisation of per-voxel ridge solutions.

    Parameters
    ----------
    model : UniversalBrainEncoder
        Freshly initialised; changed in place.
    crowd : Crowd
        The training crowd (global voxel ``k`` of the model is the crowd's).
    train_rows : dict
        Subject key -> row indices of the images to fit (the training rows
        without the validation rows).
    features_of : callable
        ``features_of(image_ids)`` returns the projected features of those
        images, a tensor of shape (B, L, P, C), on the model's device.
    seed : int
        Seeds the dropout draws.
    dropout_draws : int
        Dropout draws the weights are averaged over (0: fit clean features only).
    image_batch : int
        Images per forward pass.

    Returns
    -------
    dict
        ``rank`` (of the factorisation), ``explained`` (share of the squared
        norm of W kept), ``median_alpha`` (median selected penalty).
    """
    _check_supported(model)
    head = model.head
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    try:
        _zero_queries(head.attention)
        n_features = head.readout.weight.shape[1]
        weights = np.zeros((n_features, crowd.n_voxels), dtype=np.float64)
        intercepts = np.zeros(crowd.n_voxels, dtype=np.float64)
        alphas = []
        for k, subject in enumerate(crowd.subjects):
            rows = np.asarray(train_rows[subject.key])
            if rows.size < 3:
                raise BrainembedError(f"subject {subject.key} has {rows.size} training images; the ridge warm start "
                                      "needs at least 3 (use readout_init='random').")
            ids = subject.image_ids[rows]
            features = [features_of(ids[lo:lo + image_batch]) for lo in range(0, ids.size, image_batch)]
            hidden = _stack(model, features)
            noisy = _dropout_draws(model, features, dropout_draws) \
                if dropout_draws and head.mlps[0].dropout.p > 0 else None
            coef, intercept, alpha = _ridge(hidden, noisy, np.asarray(subject.responses[rows], dtype=np.float64),
                                            fit_intercept=head.embeddings.bias is not None)
            cols = slice(int(crowd.offsets[k]), int(crowd.offsets[k]) + subject.n_voxels)
            weights[:, cols] = coef
            intercepts[cols] = intercept
            alphas.append(alpha)
        embed_dim = head.embeddings.embed_dim
        u, s, vt = np.linalg.svd(weights, full_matrices=False)
        rank = min(embed_dim, s.size)
        embeddings = vt[:rank].T * s[:rank]  # (N, rank): e_v F = W_v with F = U^T
        readout = u[:, :rank].T  # (rank, L·C)
        rms = float(np.sqrt(np.mean(np.sum(embeddings ** 2, axis=1)))) or 1.0
        embeddings, readout = embeddings / rms, readout * rms
        table = head.embeddings
        device = table.weight.device
        new_embeddings = table.weight.detach().clone()  # dimensions beyond the rank keep their random start
        new_embeddings[:, :rank] = torch.as_tensor(embeddings, dtype=table.weight.dtype, device=device)
        new_readout = head.readout.weight.detach().clone()
        new_readout[:rank] = torch.as_tensor(readout, dtype=new_readout.dtype, device=device)
        table.weight.copy_(new_embeddings)
        head.readout.weight.copy_(new_readout)
        if table.bias is not None:
            table.bias.copy_(torch.as_tensor(intercepts, dtype=table.bias.dtype, device=device))
    finally:
        model.train(was_training)
    total = float(np.sum(s ** 2)) or 1.0
    return {"rank": int(rank), "explained": float(np.sum(s[:rank] ** 2) / total),
            "median_alpha": float(np.median(np.concatenate(alphas)))}
