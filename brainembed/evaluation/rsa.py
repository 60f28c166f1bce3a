"""Representational similarity analysis (RSA): RDMs, their comparison, per-ROI and embedding RSA, p-values.

An RDM (representational dissimilarity matrix) holds the dissimilarity of the
response patterns of every pair of images. Square RDMs are arrays of shape
(n_images, n_images); their upper triangle (``k=1``, row-major) is the same
vector as :func:`scipy.spatial.distance.pdist` returns.

Two questions, each with and without a p-value:

- **predicted vs measured image RDMs** (does the encoder reproduce the
  representational geometry of an ROI's images?): :func:`roi_rsa`, and
  :func:`image_rsa_by_roi` with a p-value;
- **how alike regions respond**, predicted vs measured (a coarse, region-level
  RSA over the regions' mean responses): :func:`region_response_correlations`;
- **embedding vs response similarity** (paper Fig. S22: do voxels whose
  embeddings are similar also respond similarly?): voxel-by-voxel
  dissimilarity (1 - Pearson r) of the embeddings against that of the voxels'
  measured response profiles, :func:`embedding_rsa` for one set of voxels and
  :func:`embedding_rsa_by_roi` per ROI with a p-value.

Matrices are compared by the correlation of their upper triangles
(:func:`compare_rdms`); p-values come from a Mantel permutation test
(:func:`rdm_permutation_test`): rows and columns of one matrix are permuted
together, which keeps its structure and breaks only its correspondence with
the other. :mod:`brainembed.analysis` re-exports the functions with p-values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from brainembed.errors import BrainembedValueError
from brainembed.evaluation.metrics import zscore_rows
from brainembed.validation import as_float_array, check_count, check_int, check_method, same_shape

__all__ = ["compare_rdms", "embedding_rsa", "embedding_rsa_by_roi", "image_rsa_by_roi", "rdm", "rdm_permutation_test",
           "region_response_correlations", "roi_rsa", "upper_triangle"]

RDM_METHODS = ("correlation", "euclidean")
COMPARE_METHODS = ("spearman", "pearson", "kendall")
PERMUTATION_METHODS = ("spearman", "pearson")


def rdm(responses, method="correlation"):
    """Representational dissimilarity matrix over images.

    Parameters
    ----------
    responses : array of shape (n_images, n_voxels)
        One response pattern per image.
    method : {"correlation", "euclidean"}, default="correlation"
        ``"correlation"``: 1 - Pearson correlation across voxels (a constant
        pattern counts as uncorrelated, distance 1); ``"euclidean"``: Euclidean
        distance between patterns.

    Returns
    -------
    matrix : array of shape (n_images, n_images)
        Symmetric, zero diagonal.
    """
    check_method("method", method, RDM_METHODS)
    responses = as_float_array("responses", responses, ndim=2, min_rows=2)
    if method == "correlation":
        if responses.shape[1] < 2:
            raise BrainembedValueError(
                f"responses needs at least 2 voxels for correlation RDMs, got {responses.shape}.")
        normalised = zscore_rows(responses)
        matrix = 1.0 - np.clip(normalised @ normalised.T, -1.0, 1.0)
        np.fill_diagonal(matrix, 0.0)
        return matrix
    return squareform(pdist(responses, metric="euclidean"))


def upper_triangle(matrix):
    """Entries above the diagonal of a square matrix, row by row.

    Parameters
    ----------
    matrix : array of shape (n, n)
        Square matrix (e.g. an RDM).

    Returns
    -------
    vector : array of shape (n * (n - 1) // 2,)
        Same order as :func:`scipy.spatial.distance.pdist`.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise BrainembedValueError(f"matrix must be square, got shape {matrix.shape}.")
    rows, cols = np.triu_indices(matrix.shape[0], k=1)
    return matrix[rows, cols]


def _as_vector(name, rdm_like):
    array = as_float_array(name, rdm_like)
    if array.ndim == 2:
        return upper_triangle(array)
    if array.ndim == 1:
        return array
    raise BrainembedValueError(f"{name} must be a square RDM or its upper triangle, got shape {array.shape}.")


def compare_rdms(a, b, method="spearman"):
    """Correlation between two RDMs (their upper triangles).

    Parameters
    ----------
    a, b : array of shape (n_images, n_images) or (n_pairs,)
        Square RDMs or their upper triangles (:func:`upper_triangle`).
    method : {"spearman", "pearson", "kendall"}, default="spearman"
        Correlation coefficient (computed by :mod:`scipy.stats`; Kendall's tau-b).

    Returns
    -------
    similarity : float
        In [-1, 1]; 0 when either RDM is constant.
    """
    check_method("method", method, COMPARE_METHODS)
    a = _as_vector("a", a)
    b = _as_vector("b", b)
    same_shape("a", a, "b", b)
    if a.size < 2:
        raise BrainembedValueError("RDMs need at least 3 images (2 pairs) to be compared.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    function = {"spearman": stats.spearmanr, "pearson": stats.pearsonr, "kendall": stats.kendalltau}[method]
    return float(function(a, b)[0])


def _as_square(name, rdm_like) -> np.ndarray:
    matrix = np.asarray(rdm_like, dtype=np.float64)
    if matrix.ndim == 1:  # an upper triangle: recover the side n from n (n - 1) / 2 entries
        n = int(round((1 + np.sqrt(1 + 8 * matrix.size)) / 2))
        if n * (n - 1) // 2 != matrix.size:
            raise BrainembedValueError(f"{name} has {matrix.size} entries, which is no upper triangle of a square RDM.")
        square = np.zeros((n, n))
        square[np.triu_indices(n, 1)] = matrix
        return square + square.T
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise BrainembedValueError(f"{name} must be a square RDM or its upper triangle, got shape {matrix.shape}.")
    if not np.all(np.isfinite(matrix)):
        raise BrainembedValueError(f"{name} contains NaN or infinite values.")
    return matrix


def rdm_permutation_test(a, b, *, method: str = "spearman", n_permutations: int = 1000, random_state=0) -> dict:
    """Correlation of two RDMs and its Mantel permutation p-value.

    Parameters
    ----------
    a, b : array of shape (n, n) or (n * (n - 1) // 2,)
        Square dissimilarity matrices over the same n items, or their upper
        triangles (row-major, as :func:`scipy.spatial.distance.pdist`).
    method : {"spearman", "pearson"}, default="spearman"
    n_permutations : int, default=1000
        Random relabelings of ``b``'s items (rows and columns together).
    random_state : int, numpy Generator or None, default=0

    Returns
    -------
    dict
        ``r`` (correlation of the upper triangles, as :func:`compare_rdms` /
        :mod:`scipy.stats`), ``p_value`` (one-sided,
        ``(1 + #{null >= r}) / (1 + n_permutations)``), ``n_permutations`` and
        ``null`` (array of shape (n_permutations,)).
    """
    if method not in PERMUTATION_METHODS:
        raise BrainembedValueError(f"unknown method={method!r}; choose 'spearman' or 'pearson'.")
    check_count("n_permutations", n_permutations)
    a, b = _as_square("a", a), _as_square("b", b)
    if a.shape != b.shape:
        raise BrainembedValueError(f"RDM a has shape {a.shape} but b has {b.shape}; they must describe the same items.")
    n = len(a)
    if n < 3:
        raise BrainembedValueError(f"RDMs need at least 3 items to be compared, got {n}.")
    rows, cols = np.triu_indices(n, 1)
    va, vb = a[rows, cols], b[rows, cols]
    r = compare_rdms(va, vb, method)
    if np.ptp(va) == 0 or np.ptp(vb) == 0:
        return {"r": r, "p_value": 1.0, "n_permutations": int(n_permutations), "null": np.zeros(n_permutations)}
    if method == "spearman":  # ranks commute with permutations: Spearman = Pearson of ranks
        va, vb = stats.rankdata(va), stats.rankdata(vb)
    za = (va - va.mean()) / np.linalg.norm(va - va.mean())
    zb_square = np.zeros((n, n))
    zb_square[rows, cols] = (vb - vb.mean()) / np.linalg.norm(vb - vb.mean())
    zb_square += zb_square.T
    observed = float(za @ zb_square[rows, cols])
    rng = np.random.default_rng(random_state)
    rows32, cols32 = rows.astype(np.int32), cols.astype(np.int32)
    null = np.empty(n_permutations)
    for i in range(n_permutations):
        p = rng.permutation(n).astype(np.int32)
        null[i] = za @ zb_square[p[rows32], p[cols32]]
    p_value = (1 + int(np.sum(null >= observed - 1e-12))) / (1 + n_permutations)
    return {"r": r, "p_value": float(p_value), "n_permutations": int(n_permutations), "null": null}


def _similarity(a, b, compare, n_permutations, rng):
    """Correlation of two RDMs and its permutation p-value (NaN when ``n_permutations`` is None)."""
    if n_permutations is None:
        return compare_rdms(a, b, compare), np.nan
    test = rdm_permutation_test(a, b, method=compare, n_permutations=n_permutations, random_state=rng)
    return test["r"], test["p_value"]


def _image_rsa(pred, true, voxels, method, compare, n_permutations=None, rng=None):
    """Similarity of the predicted and measured image RDMs over ``voxels`` (and its p-value)."""
    return _similarity(rdm(pred[:, voxels], method), rdm(true[:, voxels], method), compare, n_permutations, rng)


def _embedding_rsa(embeddings, responses, voxels, compare, n_permutations=None, rng=None):
    """Similarity of the voxel RDMs of ``voxels``' embeddings and response profiles (and its p-value)."""
    return _similarity(rdm(embeddings[voxels]), rdm(responses[:, voxels].T), compare, n_permutations, rng)


def _voxel_subset(voxels, max_voxels, rng) -> np.ndarray:
    """``voxels``, or a sorted random subset of ``max_voxels`` of them."""
    if max_voxels is None or voxels.size <= max_voxels:
        return voxels
    return np.sort(rng.choice(voxels, int(max_voxels), replace=False))


def _min_image_rdm_voxels(method, min_voxels) -> int:
    return max(min_voxels, 2 if method == "correlation" else 1)  # a correlation RDM needs 2 voxels


def _check_pred_true(pred, true):
    pred = as_float_array("pred", pred, ndim=2, min_rows=3)
    true = as_float_array("true", true, ndim=2, min_rows=3)
    same_shape("pred", pred, "true", true)
    return pred, true


def _check_embeddings(embeddings, responses, min_voxels):
    embeddings = as_float_array("embeddings", embeddings, ndim=2, min_rows=min_voxels)
    responses = as_float_array("responses", responses, ndim=2, min_rows=2)
    if responses.shape[1] != embeddings.shape[0]:
        raise BrainembedValueError(
            f"responses has {responses.shape[1]} voxels (columns) but embeddings has "
            f"{embeddings.shape[0]} (rows); they must describe the same voxels."
        )
    if embeddings.shape[1] < 2:
        raise BrainembedValueError(
            f"embeddings needs at least 2 dimensions to correlate voxels, got {embeddings.shape}.")
    return embeddings, responses


def _roi_masks(roi_labels, n_voxels):
    if isinstance(roi_labels, Mapping):
        masks = {}
        for name, selection in roi_labels.items():
            selection = np.asarray(selection)
            if selection.dtype == bool:
                if selection.shape != (n_voxels,):
                    raise BrainembedValueError(
                        f"roi_labels[{name!r}] is a mask of shape {selection.shape}, expected ({n_voxels},)."
                    )
                masks[name] = selection
            else:
                if selection.ndim != 1 or not np.issubdtype(selection.dtype, np.integer) or (
                    selection.size and (selection.min() < 0 or selection.max() >= n_voxels)
                ):
                    raise BrainembedValueError(
                        f"roi_labels[{name!r}] must be a boolean mask or voxel indices in [0, {n_voxels})."
                    )
                mask = np.zeros(n_voxels, dtype=bool)
                mask[selection] = True
                masks[name] = mask
        return masks
    labels = np.asarray(roi_labels)
    if labels.shape != (n_voxels,):
        raise BrainembedValueError(
            f"roi_labels must have shape ({n_voxels},) with one label per voxel (or be a mapping), got {labels.shape}."
        )
    return {label: labels == label for label in pd.unique(labels) if not pd.isna(label)}


def _roi_groups(roi_labels, n_voxels, rois=None) -> dict:
    """ROI name -> voxel indices, every label (as text) sorted or the ``rois`` asked for."""
    labels = np.asarray(roi_labels).astype(str)
    if labels.shape != (n_voxels,):
        raise BrainembedValueError(f"roi_labels must have one label per voxel ({n_voxels}), got shape {labels.shape}.")
    present = list(dict.fromkeys(labels))
    if rois is None:
        rois = sorted(present)
    else:
        rois = [rois] if isinstance(rois, str) else list(rois)
        missing = [r for r in rois if r not in present]
        if missing:
            raise BrainembedValueError(f"ROI(s) {missing} have no voxels; choose from {', '.join(sorted(present))}.")
    return {roi: np.flatnonzero(labels == roi) for roi in rois}


def roi_rsa(pred, true, roi_labels, method="correlation", compare="spearman", min_voxels=2):
    """RSA per ROI: similarity of the predicted and measured RDMs over images.

    Parameters
    ----------
    pred : array of shape (n_images, n_voxels)
        Predicted responses to the test images.
    true : array of shape (n_images, n_voxels)
        Measured responses to the same images.
    roi_labels : array of shape (n_voxels,) or mapping
        One label per voxel (every distinct label except None/NaN is an ROI), or a
        mapping ROI name -> boolean mask of shape (n_voxels,) or voxel indices
        (ROIs may then overlap).
    method : {"correlation", "euclidean"}, default="correlation"
        Dissimilarity of :func:`rdm` (1 - Pearson by default).
    compare : {"spearman", "pearson", "kendall"}, default="spearman"
        Correlation between RDM upper triangles, see :func:`compare_rdms`.
    min_voxels : int, default=2
        ROIs with fewer voxels are reported with a NaN similarity.

    Returns
    -------
    table : DataFrame
        One row per ROI: ``roi``, ``n_voxels``, ``rsa`` (similarity between the
        predicted and the measured RDM). :func:`image_rsa_by_roi` adds a p-value.
    """
    check_method("method", method, RDM_METHODS)
    check_method("compare", compare, COMPARE_METHODS)
    pred, true = _check_pred_true(pred, true)
    min_voxels = check_int("min_voxels", min_voxels, 1)
    rows = []
    for name, mask in _roi_masks(roi_labels, true.shape[1]).items():
        n_voxels = int(mask.sum())
        value = np.nan
        if n_voxels >= _min_image_rdm_voxels(method, min_voxels):
            value, _ = _image_rsa(pred, true, mask, method, compare)
        rows.append({"roi": name, "n_voxels": n_voxels, "rsa": value})
    return pd.DataFrame(rows, columns=["roi", "n_voxels", "rsa"])


def image_rsa_by_roi(pred, true, roi_labels, *, rois=None, method: str = "correlation", n_permutations: int = 1000,
                     min_voxels: int = 2, random_state=0) -> pd.DataFrame:
    """Per ROI: predicted vs measured RDMs over images, with a permutation p-value.

    Parameters
    ----------
    pred, true : array of shape (n_images, n_voxels)
        Predicted and measured responses to the same images (at least 3).
    roi_labels : array of shape (n_voxels,)
    rois : str or sequence of str, optional
        ROIs to analyse (default: every label present, sorted).
    method : {"correlation", "euclidean"}, default="correlation"
        Dissimilarity of the image RDMs (:func:`rdm`).
    n_permutations : int, default=1000
    min_voxels : int, default=2
    random_state : int, default=0

    Returns
    -------
    DataFrame
        One row per ROI: ``roi``, ``n_voxels``, ``n_images``, ``rsa``
        (Spearman between the RDMs, as :func:`roi_rsa`) and ``p_value``
        (:func:`rdm_permutation_test`).
    """
    check_method("method", method, RDM_METHODS)
    pred, true = _check_pred_true(pred, true)
    rng = np.random.default_rng(random_state)
    rows = []
    for roi, voxels in _roi_groups(roi_labels, true.shape[1], rois).items():
        row = {"roi": roi, "n_voxels": int(voxels.size), "n_images": len(true), "rsa": np.nan, "p_value": np.nan}
        if voxels.size >= _min_image_rdm_voxels(method, min_voxels):
            row["rsa"], row["p_value"] = _image_rsa(pred, true, voxels, method, "spearman", n_permutations, rng)
        rows.append(row)
    return pd.DataFrame(rows, columns=["roi", "n_voxels", "n_images", "rsa", "p_value"])


def embedding_rsa(embeddings, responses, compare="spearman", max_voxels=2000, random_state=None):
    """Similarity of voxel embeddings vs similarity of the voxels' measured responses.

    For a set of voxels, builds two voxel-by-voxel correlation matrices — one
    between the voxels' embeddings, one between their response profiles
    across images — and correlates their upper triangles (Beliy et al., §5).

    Parameters
    ----------
    embeddings : array of shape (n_voxels, n_dims)
        Learned embedding of every voxel.
    responses : array of shape (n_images, n_voxels)
        Measured responses of the same voxels.
    compare : {"spearman", "pearson", "kendall"}, default="spearman"
        Correlation between the two upper triangles.
    max_voxels : int or None, default=2000
        With more voxels, a random subset of this size is used (the matrices
        grow as n_voxels²); None uses every voxel.
    random_state : int, numpy Generator or None
        Seed of the voxel subset.

    Returns
    -------
    result : dict
        ``rsa`` (float), ``n_voxels`` (voxels used) and ``voxels`` (their
        indices, array of shape (n_used,)). :func:`embedding_rsa_by_roi` does
        this per ROI with a p-value.
    """
    check_method("compare", compare, COMPARE_METHODS)
    embeddings, responses = _check_embeddings(embeddings, responses, min_voxels=3)
    if max_voxels is not None:
        max_voxels = check_int("max_voxels", max_voxels, 3)
    voxels = _voxel_subset(np.arange(embeddings.shape[0]), max_voxels, np.random.default_rng(random_state))
    value, _ = _embedding_rsa(embeddings, responses, voxels, compare)
    return {"rsa": value, "n_voxels": int(voxels.size), "voxels": voxels}


def embedding_rsa_by_roi(embeddings, responses, roi_labels, *, rois=None, max_voxels: int | None = 500,
                         n_permutations: int = 1000, min_voxels: int = 5, random_state=0) -> pd.DataFrame:
    """Per ROI: similarity of voxel embeddings vs similarity of the voxels' measured responses.

    Parameters
    ----------
    embeddings : array of shape (n_voxels, n_dims)
    responses : array of shape (n_images, n_voxels)
        Measured responses of the same voxels (e.g. to the test images).
    roi_labels : array of shape (n_voxels,)
        ROI of every voxel.
    rois : str or sequence of str, optional
        ROIs to analyse (default: every label present, sorted).
    max_voxels : int or None, default=500
        Larger ROIs use a seeded random subset (the matrices grow as n²).
    n_permutations : int, default=1000
    min_voxels : int, default=5
        Smaller ROIs get NaN.
    random_state : int, default=0

    Returns
    -------
    DataFrame
        One row per ROI: ``roi``, ``n_voxels``, ``n_used``, ``rsa`` (Spearman
        between the two voxel RDMs, as :func:`embedding_rsa`) and ``p_value``
        (:func:`rdm_permutation_test`).
    """
    embeddings, responses = _check_embeddings(embeddings, responses, min_voxels=1)
    rng = np.random.default_rng(random_state)
    rows = []
    for roi, voxels in _roi_groups(roi_labels, len(embeddings), rois).items():
        row = {"roi": roi, "n_voxels": int(voxels.size), "n_used": 0, "rsa": np.nan, "p_value": np.nan}
        if voxels.size >= max(min_voxels, 3):
            voxels = _voxel_subset(voxels, max_voxels, rng)
            row["n_used"] = int(voxels.size)
            row["rsa"], row["p_value"] = _embedding_rsa(embeddings, responses, voxels, "spearman", n_permutations, rng)
        rows.append(row)
    return pd.DataFrame(rows, columns=["roi", "n_voxels", "n_used", "rsa", "p_value"])


def region_response_correlations(pred, true, roi_labels, *, rois=None) -> pd.DataFrame:
    """Correlation between regions' mean responses over images, predicted and measured.

    How alike two regions respond (e.g. FFA and EBA) is a coarse,
    region-level RSA: an encoder that predicts mostly the response every
    voxel shares makes all regions look alike, even when each voxel's
    prediction is accurate.

    Parameters
    ----------
    pred : array of shape (n_images, n_voxels)
        Predicted responses to the test images.
    true : array of shape (n_images, n_voxels)
        Measured responses to the same images.
    roi_labels : array of shape (n_voxels,)
        Region of every voxel.
    rois : sequence of str, optional
        Regions to compare (default: every label present, sorted).

    Returns
    -------
    DataFrame
        One row per pair of regions (``roi_a`` before ``roi_b`` in the order
        of ``rois``): ``roi_a``, ``roi_b``, ``measured_r`` and ``predicted_r``
        (Pearson r over images between the two regions' mean responses) and
        ``difference`` (predicted - measured).
    """
    pred, true = _check_pred_true(pred, true)
    groups = _roi_groups(roi_labels, true.shape[1], rois)
    names = list(groups)
    measured = np.stack([true[:, v].mean(1) for v in groups.values()], 1)
    predicted = np.stack([pred[:, v].mean(1) for v in groups.values()], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_measured = np.corrcoef(measured, rowvar=False)
        r_predicted = np.corrcoef(predicted, rowvar=False)
    a, b = np.triu_indices(len(names), k=1)
    return pd.DataFrame({"roi_a": [names[i] for i in a], "roi_b": [names[j] for j in b],
                         "measured_r": r_measured[a, b], "predicted_r": r_predicted[a, b],
                         "difference": r_predicted[a, b] - r_measured[a, b]},
                        columns=["roi_a", "roi_b", "measured_r", "predicted_r", "difference"])
