"""Image retrieval from measured fMRI patterns with an encoder's predictions.

For every measured test pattern (the "query"), the encoder predicts the
patterns of N candidate images: the image that was shown plus N - 1 random
distractors drawn from the other test images. Candidates are ranked by the
Pearson correlation across voxels between each predicted pattern and the
query; the query is solved at top-k when the true image ranks among the first
k. The draw of distractors is repeated ``n_repeats`` times (Beliy et al., §4).
"""

from __future__ import annotations

import numpy as np

from brainembed.errors import BrainembedValueError
from brainembed.evaluation.metrics import zscore_rows
from brainembed.validation import as_float_array, check_int, same_shape

__all__ = ["image_retrieval", "pattern_correlations"]

_BLOCK_ENTRIES = 2**22  # random keys drawn at once (32 MiB of float64)


def pattern_correlations(pred, true):
    """Correlation across voxels between every measured and every predicted pattern.

    Parameters
    ----------
    pred : array of shape (n_images, n_voxels)
        Predicted patterns.
    true : array of shape (n_images, n_voxels)
        Measured patterns.

    Returns
    -------
    correlations : array of shape (n_images, n_images)
        ``correlations[i, j]`` is the Pearson correlation between measured
        pattern ``i`` and predicted pattern ``j``; 0 where a pattern is
        constant across voxels.
    """
    pred = as_float_array("pred", pred, ndim=2)
    true = as_float_array("true", true, ndim=2)
    same_shape("pred", pred, "true", true)
    if true.shape[1] < 2:
        raise BrainembedValueError(f"true needs at least 2 voxels to correlate patterns, got shape {true.shape}.")
    return zscore_rows(true) @ zscore_rows(pred).T


def image_retrieval(pred, true, n_candidates=100, top_k=(1, 5), n_repeats=10, random_state=None):
    """Top-k image retrieval accuracy among ``n_candidates`` candidates, repeated over distractor draws.

    Parameters
    ----------
    pred : array of shape (n_images, n_voxels)
        Predicted patterns of the test images.
    true : array of shape (n_images, n_voxels)
        Measured patterns of the same images, in the same order.
    n_candidates : int, default=100
        Candidates per query: the true image and ``n_candidates - 1``
        distractors drawn without replacement from the other test images.
        At most ``n_images``.
    top_k : sequence of int, default=(1, 5)
        Ranks at which accuracy is reported.
    n_repeats : int, default=10
        Independent draws of distractors.
    random_state : int, numpy Generator or None
        Seed of the distractor draws.

    Returns
    -------
    result : dict
        ``top{k}``: array of shape (n_repeats,) with the fraction (in [0, 1])
        of queries solved at top-k in each repeat; ``top{k}_mean``: its mean;
        ``chance_top{k}``: ``k / n_candidates``; ``n_candidates``, ``n_images``
        and ``n_repeats``.

    Notes
    -----
    Ties count against the true image: a distractor whose correlation equals
    the true image's ranks before it, so degenerate (e.g. constant)
    predictions score 0 rather than 100 %.
    """
    correlations = pattern_correlations(pred, true)
    n_images = correlations.shape[0]
    n_candidates = check_int("n_candidates", n_candidates, 2, n_images)
    n_repeats = check_int("n_repeats", n_repeats, 1)
    ks = [check_int("top_k", k, 1, n_candidates) for k in np.atleast_1d(top_k).tolist()]
    rng = np.random.default_rng(random_state)

    true_score = np.diag(correlations)
    accuracies = {k: np.empty(n_repeats) for k in ks}
    block = max(1, _BLOCK_ENTRIES // max(n_images - 1, 1))  # bounds memory for large test sets
    for repeat in range(n_repeats):
        n_before = np.empty(n_images, dtype=np.int64)
        for start in range(0, n_images, block):
            queries = np.arange(start, min(start + block, n_images))[:, None]
            # For each query, pick n_candidates - 1 of the n_images - 1 other images without
            # replacement: the smallest random keys, then skip over the query's own index.
            keys = rng.random((queries.shape[0], n_images - 1))
            picks = np.argpartition(keys, n_candidates - 2, axis=1)[:, : n_candidates - 1]
            distractors = picks + (picks >= queries)
            scores = correlations[queries, distractors]
            n_before[queries[:, 0]] = (scores >= true_score[queries]).sum(axis=1)
        for k in ks:
            accuracies[k][repeat] = np.mean(n_before < k)

    result = {"n_candidates": n_candidates, "n_images": n_images, "n_repeats": n_repeats}
    for k in ks:
        result[f"top{k}"] = accuracies[k]
        result[f"top{k}_mean"] = float(accuracies[k].mean())
        result[f"chance_top{k}"] = k / n_candidates
    return result
