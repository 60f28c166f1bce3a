"""RSA of voxel embeddings with permutation p-values (re-exported from :mod:`brainembed.evaluation.rsa`).

One implementation serves both packages: :mod:`brainembed.evaluation.rsa`
holds the RDMs, their comparison and the per-ROI analyses with and without
p-values; this module keeps ``brainembed.analysis.rsa`` and
``from brainembed.analysis import embedding_rsa_by_roi`` working.
"""

from brainembed.evaluation.rsa import PERMUTATION_METHODS, embedding_rsa_by_roi, image_rsa_by_roi, rdm_permutation_test

__all__ = ["PERMUTATION_METHODS", "embedding_rsa_by_roi", "image_rsa_by_roi", "rdm_permutation_test"]
