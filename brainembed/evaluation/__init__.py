"""Evaluation of encoders on held-out images: metrics, retrieval, RSA, statistics, baselines.

Everything here runs on numpy/scipy/pandas/statsmodels/scikit-learn/himalaya,
without torch. Submodules are imported on first use, so ``import
brainembed.evaluation`` is cheap.

Conventions: samples first (responses are arrays of shape
(n_images, n_voxels)); noise ceilings, encoding accuracies, retrieval
accuracies and significant-voxel shares are fractions in [0, 1], not percentages.
"""

import importlib

_EXPORTS = {
    "metrics": ("encoding_accuracy", "evaluate_subject", "mse", "pearson_per_voxel", "summarize_by",
                "summarize_correlations"),
    "retrieval": ("image_retrieval", "pattern_correlations"),
    "rsa": ("compare_rdms", "embedding_rsa", "embedding_rsa_by_roi", "image_rsa_by_roi", "rdm", "rdm_permutation_test",
            "region_response_correlations", "roi_rsa", "upper_triangle"),
    "statistics": ("correlation_pvalues", "fdr_correction", "paired_ttests", "repeated_measures_anova",
                   "voxel_significance"),
    "baselines": ("RidgeEncoder",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
