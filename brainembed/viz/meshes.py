"""fsaverage5 surfaces from nilearn's bundled data (offline), loaded once per process, and the messages
both flatmap renderers give for data they cannot draw."""

from __future__ import annotations

from functools import cache

import numpy as np

N_VERTICES_FSAVERAGE5 = 10242
HEMIS = ("lh", "rh")
_NILEARN_HEMI = {"lh": "left", "rh": "right"}
_NILEARN_KIND = {"pial": "pial", "white": "white", "inflated": "infl", "sphere": "sphere", "flat": "flat"}

#: What the flatmap messages offer instead of a flatmap.
ROI_VIEW = "brainembed embed-map --run RUN --color roi"


def fslr_unavailable(who: str = "the data", roi_view: str = ROI_VIEW):
    """The one-sentence error for fsLR-32k data without an fsLR-32k mesh to draw on."""
    from brainembed.errors import BrainembedError

    return BrainembedError(f"{who} lies on the fsLR-32k surface and no fsLR-32k flat mesh is available offline "
                           "(nilearn ships none; add a pycortex subject named fsLR32k with 32492 vertices per "
                           f"hemisphere to draw it), so look at it by ROI instead: {roi_view}.")


def volumetric_error(who: str = "the data", roi_view: str = ROI_VIEW):
    """The one-sentence error for volumetric voxels, which have no flatmap."""
    from brainembed.errors import BrainembedError

    return BrainembedError(f"{who} has volumetric voxels (no surface vertex), which have no flatmap; look at them "
                           f"by ROI instead: {roi_view}.")


@cache
def fsaverage5_mesh(kind: str, hemi: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and faces of one fsaverage5 surface.

    Parameters
    ----------
    kind : {"pial", "white", "inflated", "sphere", "flat"}
    hemi : {"lh", "rh"}

    Returns
    -------
    coords : array of shape (10242, 3), float
    faces : array of shape (n_faces, 3), int
        The flat mesh has fewer faces than the others (faces across its cuts are removed).
    """
    from nilearn import datasets, surface

    from brainembed.errors import BrainembedError

    if kind not in _NILEARN_KIND or hemi not in _NILEARN_HEMI:
        raise BrainembedError(f"unknown fsaverage5 surface {kind!r}/{hemi!r}.")
    files = datasets.fetch_surf_fsaverage("fsaverage5")
    mesh = surface.load_surf_mesh(files[f"{_NILEARN_KIND[kind]}_{_NILEARN_HEMI[hemi]}"])
    return np.asarray(mesh.coordinates, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


@cache
def fsaverage5_sulc(hemi: str) -> np.ndarray:
    """Sulcal depth per vertex, array of shape (10242,)."""
    from nilearn import datasets, surface

    files = datasets.fetch_surf_fsaverage("fsaverage5")
    return np.asarray(surface.load_surf_data(files[f"sulc_{_NILEARN_HEMI[hemi]}"]), dtype=np.float64)
