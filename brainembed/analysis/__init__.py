"""Exploring the brain through voxel embeddings: clustering, top images, anatomy, RSA, maps.

Everything here runs on numpy/scipy/pandas/scikit-learn (umap-learn for UMAP
maps), without torch, so it is cheap in a notebook. Getting embeddings and
predictions *out of* a trained run needs torch and lives in
:mod:`brainembed.pipeline.common`.

Conventions: samples first (embeddings are arrays of shape
(n_voxels, n_dims), responses and predictions (n_images, n_voxels)); one row
per voxel in every per-voxel table, identified by ``dataset``, ``subject`` and
``voxel`` (index within its subject); shares are fractions in [0, 1].
Submodules are imported on first use, so ``import brainembed.analysis`` is cheap.
"""

import importlib

_EXPORTS = {
    "embeddings": ("VoxelEmbeddings", "resolve_subjects", "subjects_tag"),
    "clustering": ("EmbeddingKMeans", "cluster_sizes", "cluster_voxels", "clustering_tag", "latest_clustering_tag",
                   "load_clustering", "save_clustering"),
    "anatomy": ("vertex_overlap",),
    "image_ranking": ("cluster_activation", "top_image_categories", "top_images"),
    "truth": ("cluster_truth", "compare_to_truth", "recovered_categories"),
    "manifold": ("embed_2d", "knn_label_accuracy", "subsample"),
    "rsa": ("embedding_rsa_by_roi", "image_rsa_by_roi", "rdm_permutation_test"),
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
