"""The simulated visual cortex: real fsaverage5 anatomy, retinotopy and category regions.

Everything lives on nilearn's bundled fsaverage5 meshes (10242 vertices per
hemisphere; they are the first 10242 vertices of full fsaverage), so simulated
voxels map to real vertex indices and can be drawn on any fsaverage flatmap.

Anatomy is defined geometrically, from landmarks in MNI millimetres snapped to
the pial surface and from *geodesic* distances along the midthickness surface
(Dijkstra over mesh edges, so distances are millimetres of cortex):

- **Calcarine sulcus** -- a path through the deepest cortex (lowest cost where
  the sulcal depth is large) from the occipital pole to the junction with the
  parieto-occipital sulcus.
- **V1-V3** -- bands around the calcarine fundus. Signed geodesic distance from
  the fundus ``t`` (positive on the dorsal bank/cuneus, negative on the
  ventral bank/lingual gyrus) sets the visual area and the polar angle: V1
  spans the horizontal meridian (fundus) to the vertical meridian, V2 and V3
  are mirror-reversed bands beyond it (V1/V2 border = vertical meridian,
  V2/V3 border = horizontal meridian), the dorsal bank maps the lower visual
  field and the ventral bank the upper field, each hemisphere the
  contralateral hemifield. Eccentricity grows with the distance along the
  calcarine from the pole following the cortical magnification of Horton &
  Hoyt (1991), ``M(E) = 17.3 / (E + 0.75)`` mm/deg. Band widths follow the
  same magnification (narrow at the foveal confluence, wider in the
  periphery) and pRF sizes grow with eccentricity and from V1 to V3 (Dumoulin
  & Wandell 2008; Kay et al. 2013).
- **hV4** (ventral) and **V3A/B** (dorsal) -- one more band beyond V3, with
  a full-hemifield map and larger pRFs; they mix low-level and (weak)
  object-level tuning.
- **Category regions** -- capsules (a geodesic segment between two landmarks
  plus a radius) at literature coordinates: FFA (lateral fusiform, both
  hemispheres, right larger), PPA (collateral sulcus/parahippocampal; its
  posterior half prefers outdoor and its anterior half indoor scenes, an
  arbitrary but fixed choice standing in for the sub-regions the paper
  found), EBA (lateral occipitotemporal), VWFA (left occipitotemporal sulcus
  only), food (two strips flanking the FFA medially and laterally, after
  Khosla et al. 2022 and Jain et al. 2023) and an object-selective LO.
  A vertex's membership in a region is a Gaussian of its geodesic distance
  to the capsule, so voxels between regions mix selectivities.
- **Visual-cortex mask** -- the early areas up to ``MAX_ECCENTRICITY_DEG``
  (receptive fields that overlap the image), the occipital lobe behind
  y = -75 mm (below z = 35 mm), ventral occipitotemporal cortex behind
  y = -35 mm (-40 < z < 0 mm, |x| > 8 mm, off the medial wall) and lateral
  occipitotemporal cortex behind y = -50 mm (-30 < z < 15 mm, |x| > 30 mm),
  in pial (MNI-like) coordinates, plus every vertex with a category-region
  membership above 0.3. Peripheral early cortex (beyond the modelled
  eccentricities) is left out. About 1500 vertices per hemisphere.
- **Labels** -- ``region`` is the ground truth (``V1``, ``V2``, ``V3``,
  ``hV4``, ``V3AB``, ``FFA``, ``PPA-indoor``, ``PPA-outdoor``, ``EBA``,
  ``VWFA``, ``food-medial``, ``food-lateral``, ``LO`` or ``other``; a
  category region wins where its membership is at least 0.5); ``roi`` is
  the coarser label a localiser would give (``PPA``, ``food``; ``V3AB`` is
  ``other``).

Subjects differ: each subject's category regions move along the cortex by a
random displacement (``shift_mm`` per axis, default 5 mm; median distance
about 6 mm) and their radii are scaled by a log-normal factor, the
retinotopic map is stretched by a few percent (early areas stay tied to the
calcarine sulcus), and each subject samples its own subset of mask vertices
as voxels. Function and anatomy therefore do not align exactly across
people: two subjects' FFA vertex sets typically overlap with a Jaccard index
of 0.2-0.6 while their centroids lie within 1-2 cm (V1: about 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from brainembed.errors import BrainembedError
from brainembed.simulate.stimuli import CATEGORIES

__all__ = [
    "CATEGORIES",
    "HEMIS",
    "IMAGE_DEGREES",
    "MAX_ECCENTRICITY_DEG",
    "REGIONS",
    "ROI_LABELS",
    "Hemisphere",
    "cortical_map",
    "load_hemisphere",
    "sample_voxels",
    "simulate_cortex",
]

HEMIS = ("lh", "rh")
N_VERTICES = 10242
IMAGE_DEGREES = 8.4
"""Visual angle of the image width in degrees (as in NSD); image coordinates -1..1 span it."""
MAX_ECCENTRICITY_DEG = 7.0
"""Early-visual vertices beyond this eccentricity are outside the mask (their pRFs miss the image)."""
ROI_LABELS = ("V1", "V2", "V3", "hV4", "LO", "EBA", "FFA", "PPA", "VWFA", "food", "other")

# --------------------------------------------------------------------------- landmarks
# MNI millimetres of the left hemisphere; the right hemisphere mirrors x unless listed.
_CALCARINE = {
    "lh": ((-12.0, -100.0, 1.0), (-11.0, -87.0, 3.0), (-20.0, -72.0, 4.0), (-20.0, -56.0, 2.0)),
    "rh": ((14.0, -100.0, 1.0), (12.6, -86.0, 5.4), (21.0, -69.0, 5.0), (22.0, -59.0, 5.7)),
}


@dataclass(frozen=True)
class RegionSpec:
    """A category region: a capsule on the cortex and its tuning.

    ``points`` are MNI coordinates of the left hemisphere (x mirrored for the
    right); ``radius`` is in mm of cortex per hemisphere; ``profile`` is the
    response to each category (1 for the preferred one).
    """

    name: str
    roi: str
    preferred: str
    points: tuple
    radius: dict
    profile: dict
    energy_weight: float
    rf_eccentricity: tuple  # (low, high) pRF-centre eccentricity, image units
    rf_size: tuple  # (low, high) pRF sigma, image units


REGIONS = (
    RegionSpec("FFA", "FFA", "face", ((-38.0, -58.0, -18.0), (-38.0, -44.0, -20.0)),
               {"lh": 7.0, "rh": 9.0},
               {"face": 1.0, "body": 0.4, "food": 0.1, "object": 0.1, "text": 0.05}, 0.15,
               (0.0, 0.45), (0.45, 0.9)),
    RegionSpec("PPA-outdoor", "PPA", "outdoor", ((-28.0, -56.0, -10.0), (-27.0, -48.0, -10.0)),
               {"lh": 8.5, "rh": 9.0},
               {"outdoor": 1.0, "indoor": 0.35, "object": 0.1}, 0.2,
               (0.35, 0.9), (0.8, 1.3)),
    RegionSpec("PPA-indoor", "PPA", "indoor", ((-26.0, -44.0, -12.0), (-25.0, -36.0, -14.0)),
               {"lh": 8.5, "rh": 9.0},
               {"indoor": 1.0, "outdoor": 0.35, "object": 0.2, "food": 0.05}, 0.2,
               (0.35, 0.9), (0.8, 1.3)),
    RegionSpec("EBA", "EBA", "body", ((-46.0, -76.0, 0.0), (-48.0, -66.0, 4.0)),
               {"lh": 8.0, "rh": 9.0},
               {"body": 1.0, "face": 0.15, "object": 0.2, "food": 0.05}, 0.2,
               (0.15, 0.6), (0.55, 1.0)),
    RegionSpec("VWFA", "VWFA", "text", ((-44.0, -60.0, -14.0), (-44.0, -52.0, -16.0)),
               {"lh": 9.0},
               {"text": 1.0, "object": 0.3, "face": 0.1}, 0.25,
               (0.0, 0.3), (0.35, 0.7)),
    RegionSpec("food-medial", "food", "food", ((-30.0, -66.0, -12.0), (-31.0, -56.0, -14.0)),
               {"lh": 5.0, "rh": 5.0},
               {"food": 1.0, "object": 0.4, "indoor": 0.1, "face": 0.05}, 0.25,
               (0.15, 0.6), (0.6, 1.0)),
    RegionSpec("food-lateral", "food", "food", ((-44.0, -70.0, -10.0), (-45.0, -64.0, -12.0)),
               {"lh": 5.0, "rh": 5.0},
               {"food": 1.0, "object": 0.4, "body": 0.05}, 0.25,
               (0.15, 0.6), (0.6, 1.0)),
    RegionSpec("LO", "LO", "object", ((-40.0, -84.0, -6.0), (-42.0, -78.0, -8.0)),
               {"lh": 7.0, "rh": 7.0},
               {"object": 1.0, "body": 0.3, "food": 0.3, "face": 0.2, "text": 0.2}, 0.35,
               (0.15, 0.6), (0.4, 0.8)),
)
_REGION_BY_NAME = {r.name: r for r in REGIONS}
# VWFA sits in the left hemisphere only.

# Early areas: pRF sigma (deg) = slope * eccentricity + intercept.
_PRF_SIZE = {"V1": (0.16, 0.25), "V2": (0.22, 0.35), "V3": (0.32, 0.45), "hV4": (0.55, 0.8),
             "V3AB": (0.6, 0.9)}
_EARLY_ENERGY_WEIGHT = {"V1": 1.0, "V2": 1.0, "V3": 1.0, "hV4": 0.85, "V3AB": 0.85}
_HIGH_LEVEL_PROFILE = {"object": 0.5, "body": 0.2, "face": 0.2, "food": 0.2, "indoor": 0.2,
                       "outdoor": 0.2, "text": 0.1}


# --------------------------------------------------------------------------- meshes
@dataclass(frozen=True, eq=False)
class Hemisphere:
    """fsaverage5 surfaces of one hemisphere (arrays are read-only).

    Attributes
    ----------
    hemi : {"lh", "rh"}
    pial, white, inflated, sphere : arrays of shape (10242, 3)
        Vertex coordinates in mm (pial/white in MNI-like space).
    sulc : array of shape (10242,)
        Sulcal depth (positive in sulci).
    faces : array of shape (20480, 3)
    graph : scipy.sparse.csr_matrix of shape (10242, 10242)
        Mesh edges weighted by their length on the midthickness surface (mm).
    inflated_normals : array of shape (10242, 3)
        Unit outward normals of the inflated surface.
    """

    hemi: str
    pial: np.ndarray
    white: np.ndarray
    inflated: np.ndarray
    sphere: np.ndarray
    sulc: np.ndarray
    faces: np.ndarray
    graph: object
    inflated_normals: np.ndarray

    @property
    def midthickness(self) -> np.ndarray:
        return (self.pial + self.white) / 2

    def nearest_vertex(self, xyz, surface: str = "pial") -> np.ndarray:
        """Index of the vertex nearest to each point (array of shape (n, 3) or (3,))."""
        coords = getattr(self, surface)
        xyz = np.atleast_2d(np.asarray(xyz, dtype=np.float64))
        d2 = ((xyz[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
        return np.argmin(d2, axis=1)


def _check_hemi(hemi):
    if hemi not in HEMIS:
        raise BrainembedError(f"unknown hemisphere {hemi!r}; use 'lh' or 'rh'.")


def _fsaverage5_paths() -> dict:
    """Paths of nilearn's bundled fsaverage5 GIFTI files.

    Read straight from nilearn's package data (importing ``nilearn.datasets``
    costs seconds); falls back to :func:`nilearn.datasets.fetch_surf_fsaverage`.
    """
    from importlib.resources import files

    folder = files("nilearn") / "datasets" / "data" / "fsaverage5"
    kinds = ("pial", "white", "infl", "sphere", "sulc")
    paths = {f"{k}_{side}": str(folder / f"{k}_{side}.gii.gz") for k in kinds for side in ("left", "right")}
    if all(Path(p).is_file() for p in paths.values()):
        return paths
    from nilearn import datasets  # pragma: no cover - other nilearn layouts

    return dict(datasets.fetch_surf_fsaverage("fsaverage5"))  # pragma: no cover


@lru_cache(maxsize=2)
def load_hemisphere(hemi: str) -> Hemisphere:
    """fsaverage5 surfaces of one hemisphere from nilearn's bundled meshes (cached, offline).

    Parameters
    ----------
    hemi : {"lh", "rh"}

    Returns
    -------
    Hemisphere
    """
    _check_hemi(hemi)
    import nibabel as nib
    from scipy import sparse

    side = "left" if hemi == "lh" else "right"
    paths = _fsaverage5_paths()

    def read(kind):
        return [np.asarray(a.data) for a in nib.load(paths[f"{kind}_{side}"]).darrays]

    pial, faces = read("pial")
    white = read("white")[0]
    inflated = read("infl")[0]
    sphere = read("sphere")[0]
    sulc = read("sulc")[0]
    pial, white, inflated, sphere = (np.asarray(a, np.float64) for a in (pial, white, inflated, sphere))
    faces = np.asarray(faces, np.int64)
    mid = (pial + white) / 2
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    lengths = np.linalg.norm(mid[edges[:, 0]] - mid[edges[:, 1]], axis=1)
    n = len(pial)
    graph = sparse.coo_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    graph = (graph + graph.T).tocsr()
    normals = np.zeros_like(inflated)
    tri = inflated[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    arrays = dict(pial=pial, white=white, inflated=inflated, sphere=sphere,
                  sulc=np.asarray(sulc, np.float64), faces=faces, inflated_normals=normals)
    for a in arrays.values():
        a.setflags(write=False)
    return Hemisphere(hemi=hemi, graph=graph, **arrays)


def _mni(point, hemi):
    x, y, z = point
    return (x if hemi == "lh" else -x, y, z)


def _geodesic(hem: Hemisphere, sources, graph=None):
    """Geodesic distance (mm) from the nearest source vertex, and which source it was."""
    from scipy.sparse.csgraph import dijkstra

    sources = np.unique(np.asarray(sources, dtype=np.int64))
    dist, _, nearest = dijkstra(hem.graph if graph is None else graph, directed=False, indices=sources,
                                min_only=True, return_predecessors=True)
    return dist, nearest


def _shortest_path(graph, start, stop):
    from scipy.sparse.csgraph import dijkstra

    _, pred = dijkstra(graph, directed=False, indices=int(start), return_predecessors=True)
    path = [int(stop)]
    while path[-1] != start:
        nxt = pred[path[-1]]
        if nxt < 0:
            raise RuntimeError("disconnected mesh")  # pragma: no cover - fsaverage is connected
        path.append(int(nxt))
    return path[::-1]


@lru_cache(maxsize=2)
def _calcarine(hemi: str):
    """Calcarine fundus path (vertex indices, pole first) and arc length along it (mm)."""
    hem = load_hemisphere(hemi)
    waypoints = hem.nearest_vertex([p for p in _CALCARINE[hemi]])
    # Cost favours deep cortex so that the path follows the sulcal fundus.
    depth = hem.sulc
    g = hem.graph.tocoo()
    cost = g.data * np.exp(-2.0 * (depth[g.row] + depth[g.col]) / 2)
    from scipy import sparse

    weighted = sparse.csr_matrix((cost, (g.row, g.col)), shape=g.shape)
    path = [int(waypoints[0])]
    for a, b in zip(waypoints[:-1], waypoints[1:]):
        path += _shortest_path(weighted, a, b)[1:]
    path = np.array(path, dtype=np.int64)
    mid = hem.midthickness
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(mid[path], axis=0), axis=1))])
    path.setflags(write=False)
    arc.setflags(write=False)
    return path, arc


# --------------------------------------------------------------------------- retinotopy
@lru_cache(maxsize=2)
def _calcarine_coordinates(hemi: str):
    """Per vertex: geodesic distance to the calcarine fundus, nearest fundus vertex, and its arc position."""
    hem = load_hemisphere(hemi)
    path, arc = _calcarine(hemi)
    dist, nearest = _geodesic(hem, path)
    pos = np.full(len(hem.pial), -1)
    pos[path] = np.arange(len(path))
    s = arc[pos[nearest]]
    for a in (dist, nearest, s):
        a.setflags(write=False)
    return dist, nearest, s


def _eccentricity(s_mm, stretch):
    """Eccentricity (deg) at distance ``s_mm`` along the calcarine from the pole."""
    return 0.75 * (np.exp(np.maximum(s_mm, 0.0) * stretch / 17.3) - 1.0) + 0.1


def _v1_halfwidth(ecc, scale):
    """Half-width (mm) of V1 on each side of the fundus: half the cortical length of a hemifield arc."""
    return np.clip(scale * 0.5 * np.pi * 17.3 * ecc / (ecc + 0.75), 4.0, 14.0)


def _retinotopy(hem: Hemisphere, stretch: float, width_scale: float) -> pd.DataFrame:
    """Area, eccentricity (deg), polar angle and pRF centre of every vertex."""
    dist, nearest, s = _calcarine_coordinates(hem.hemi)
    dorsal = hem.inflated[:, 2] >= hem.inflated[nearest, 2]
    ecc = _eccentricity(s, stretch)
    w1 = _v1_halfwidth(ecc, width_scale)
    w2 = 0.7 * w1 + 1.0
    w3 = 0.6 * w1 + 1.0
    w4 = 0.8 * w1 + 4.0
    b1, b2, b3, b4 = w1, w1 + w2, w1 + w2 + w3, w1 + w2 + w3 + w4
    area = np.full(len(dist), "", dtype=object)
    # angle from the horizontal meridian (deg), 0..90; hV4/V3AB map a full hemifield -90..90.
    angle = np.zeros(len(dist))
    t = dist
    m = t < b1
    area[m], angle[m] = "V1", 90 * t[m] / b1[m]
    m = (t >= b1) & (t < b2)
    area[m], angle[m] = "V2", 90 * (1 - (t[m] - b1[m]) / w2[m])
    m = (t >= b2) & (t < b3)
    area[m], angle[m] = "V3", 90 * (t[m] - b2[m]) / w3[m]
    m = (t >= b3) & (t < b4)
    area[m] = np.where(dorsal[m], "V3AB", "hV4")
    # Beyond V3 the map reverses again: from the vertical meridian back across the whole hemifield.
    angle[m] = 90 - 180 * (t[m] - b3[m]) / w4[m]
    # The bands hug the calcarine: nothing far in front of its nearest fundus point is early cortex.
    area[hem.pial[:, 1] > hem.pial[nearest, 1] + 15.0] = ""
    lower = np.where(dorsal, 1.0, -1.0)  # dorsal bank -> lower field (image y down is positive)
    signed = np.deg2rad(angle) * lower
    hemi_sign = 1.0 if hem.hemi == "lh" else -1.0  # left hemisphere sees the right visual field
    x_deg = hemi_sign * ecc * np.cos(signed)
    y_deg = ecc * np.sin(signed)
    unit = IMAGE_DEGREES / 2
    return pd.DataFrame({
        "area": area, "ecc_deg": ecc, "angle": angle * lower, "calcarine_mm": s, "fundus_mm": t * lower,
        "rf_x": x_deg / unit, "rf_y": y_deg / unit,
    })


# --------------------------------------------------------------------------- regions
def _region_points(hem: Hemisphere, spec: RegionSpec, shift_mm, rng):
    """Capsule end-vertices of a region, displaced along the cortex.

    The first end moves to a random vertex at a geodesic distance drawn from a
    Rayleigh distribution (a 2-D Gaussian displacement with ``shift_mm`` per
    axis); the second end follows: it keeps its geodesic distance from the
    first and lies as close as possible to its old position plus the same
    displacement on the inflated surface, so the capsule keeps its shape.
    """
    verts = hem.nearest_vertex([_mni(p, hem.hemi) for p in spec.points])
    if shift_mm is None or shift_mm == 0:
        return verts
    distance = shift_mm * np.sqrt(-2.0 * np.log(1.0 - rng.random()))
    dist, _ = _geodesic(hem, verts[:1])
    ring = np.flatnonzero(np.abs(dist - distance) < 1.5)
    moved = int(rng.choice(ring)) if ring.size else int(np.argmin(np.abs(dist - distance)))
    delta = hem.inflated[moved] - hem.inflated[verts[0]]
    from_moved, _ = _geodesic(hem, [moved])
    rest = []
    for v in verts[1:]:
        # Same capsule length (geodesic), direction as close as the surface allows.
        length = dist[v]
        ok = np.flatnonzero(np.abs(from_moved - length) < 2.0)
        if not ok.size:
            ok = np.array([int(np.argmin(np.abs(from_moved - length)))])
        target = hem.inflated[v] + delta
        rest.append(int(ok[np.argmin(((hem.inflated[ok] - target) ** 2).sum(axis=1))]))
    return np.array([moved, *rest])


def _capsule_distance(hem: Hemisphere, ends):
    path = np.asarray(_shortest_path(hem.graph, ends[0], ends[-1]))
    dist, _ = _geodesic(hem, path)
    return dist


def _visual_mask_geometry(hem: Hemisphere) -> np.ndarray:
    x, y, z = hem.pial.T
    occipital = (y < -75) & (z < 35)
    ventral = (y < -35) & (z < 0) & (z > -40) & (np.abs(x) > 8)
    lateral = (y < -50) & (z < 15) & (z > -30) & (np.abs(x) > 30)
    return occipital | ventral | lateral


def cortical_map(*, random_state=None, shift_mm: float = 5.0, size_jitter: float = 0.15,
                 retinotopy_jitter: float = 0.06) -> pd.DataFrame:
    """One subject's functional layout on every visual-cortex vertex of fsaverage5.

    Parameters
    ----------
    random_state : int, numpy Generator or None
        Seed of the subject's anatomy. ``None`` gives the undisplaced template.
    shift_mm : float
        Standard deviation (mm of cortex, per axis along the surface) of the
        displacement of every category region's centre (the distance moved is
        Rayleigh-distributed, median 1.18 x ``shift_mm``).
    size_jitter : float
        Standard deviation of the log of each region's radius scale factor.
    retinotopy_jitter : float
        Standard deviation of the log-stretch of the eccentricity map and of
        the early-area band widths.

    Returns
    -------
    DataFrame with one row per mask vertex (both hemispheres)
        ``hemi``, ``vertex``, ``x``, ``y``, ``z`` (pial, mm), ``roi``,
        ``region``, ``preferred_category``, ``ecc_deg``, ``angle`` (polar angle
        from the horizontal meridian, deg, positive = lower field),
        ``rf_x``, ``rf_y``, ``rf_size`` (template pRF, image units; category
        regions get theirs when voxels are sampled), ``energy_weight``
        (weight of the low-level energy drive) and ``sel_<category>``
        (weight of each category's drive).
    """
    if shift_mm < 0 or size_jitter < 0 or retinotopy_jitter < 0:
        raise BrainembedError("shift_mm, size_jitter and retinotopy_jitter must be non-negative.")
    template = random_state is None
    rng = np.random.default_rng(0 if template else random_state)
    stretch = 1.0 if template else float(np.exp(rng.normal(0.0, retinotopy_jitter)))
    width = 1.0 if template else float(np.exp(rng.normal(0.0, retinotopy_jitter)))
    frames = []
    for hemi in HEMIS:
        hem = load_hemisphere(hemi)
        ret = _retinotopy(hem, stretch, width)
        n = len(hem.pial)
        memberships = {}
        for spec in REGIONS:
            if hemi not in spec.radius:
                continue
            scale = 1.0 if template else float(np.exp(rng.normal(0.0, size_jitter)))
            ends = _region_points(hem, spec, None if template else shift_mm, rng)
            dist = _capsule_distance(hem, ends)
            memberships[spec.name] = np.exp(-0.5 * (dist / (spec.radius[hemi] * scale)) ** 2)
        names = list(memberships)
        member = np.stack([memberships[k] for k in names], axis=1) if names else np.zeros((n, 0))
        early = ret["area"].to_numpy()
        peripheral = (early != "") & (ret["ecc_deg"].to_numpy() > MAX_ECCENTRICITY_DEG)
        early = np.where(peripheral, "", early)
        v123 = np.isin(early, ("V1", "V2", "V3"))
        member[v123] = 0.0  # category regions never invade V1-V3 (within the modelled eccentricities)
        strongest = member.max(axis=1)
        best = np.array(names, dtype=object)[member.argmax(axis=1)]
        mask = (early != "") | (_visual_mask_geometry(hem) & ~peripheral) | (strongest > 0.3)
        region = np.where(strongest >= 0.5, best, np.where(early != "", early, "other"))
        region = region.astype(object)
        spec_of = {s.name: s for s in REGIONS}
        roi = np.array([spec_of[r].roi if r in spec_of else (r if r in ROI_LABELS else "other")
                        for r in region], dtype=object)
        preferred = np.array([spec_of[r].preferred if r in spec_of else
                              ("object" if r == "other" else "none") for r in region], dtype=object)
        # Drives: early areas use the energy model; regions mix by membership.
        # Cortex outside the named areas: more low-level towards the pole, more object-like in front.
        other_energy = np.clip(0.7 - 0.015 * (hem.pial[:, 1] + 90.0), 0.25, 0.7)
        energy = np.array([_EARLY_ENERGY_WEIGHT.get(r, np.nan) for r in early])
        energy = np.where(np.isnan(energy), other_energy, energy)
        sel = {c: np.zeros(n) for c in CATEGORIES}
        for k, name in enumerate(names):
            spec = spec_of[name]
            for c, w in spec.profile.items():
                sel[c] += member[:, k] * w
            energy = energy * (1 - member[:, k]) + spec.energy_weight * member[:, k]
        background = np.clip(1.0 - strongest, 0.0, 1.0) * np.where(v123, 0.0, 1.0)
        hv4_scale = np.where(np.isin(early, ("hV4", "V3AB")), 0.35, 1.0)
        for c, w in _HIGH_LEVEL_PROFILE.items():
            sel[c] += background * hv4_scale * w
        size = np.zeros(n)
        for a, (slope, icpt) in _PRF_SIZE.items():
            m = early == a
            size[m] = (slope * ret["ecc_deg"].to_numpy()[m] + icpt) / (IMAGE_DEGREES / 2)
        frame = pd.DataFrame({
            "hemi": hemi, "vertex": np.arange(n), "x": hem.pial[:, 0], "y": hem.pial[:, 1], "z": hem.pial[:, 2],
            "roi": roi, "region": region, "preferred_category": preferred,
            "ecc_deg": np.where(early != "", ret["ecc_deg"].to_numpy(), np.nan),
            "angle": np.where(early != "", ret["angle"].to_numpy(), np.nan),
            "rf_x": ret["rf_x"].to_numpy(), "rf_y": ret["rf_y"].to_numpy(), "rf_size": size,
            "energy_weight": energy, "membership": strongest,
            **{f"sel_{c}": sel[c] for c in CATEGORIES},
        })
        frames.append(frame[mask])
    return pd.concat(frames, ignore_index=True)


def sample_voxels(cortex: pd.DataFrame, n_voxels: int, *, random_state=None) -> pd.DataFrame:
    """Draw one subject's voxels from its cortical map and give each its own pRF.

    Parameters
    ----------
    cortex : DataFrame
        Output of :func:`cortical_map`.
    n_voxels : int
        Number of voxels. Vertices are drawn without replacement while the
        mask lasts; beyond its size further voxels share vertices (as several
        volume voxels project to one fsaverage5 vertex).
    random_state : int, numpy Generator or None

    Returns
    -------
    DataFrame with ``n_voxels`` rows, sorted by hemisphere and vertex
        The columns of :func:`cortical_map`; early voxels keep the
        retinotopic pRF with a little scatter, other voxels draw a large,
        contralaterally biased pRF from their region's range.
    """
    n_voxels = int(n_voxels)
    if n_voxels < 1:
        raise BrainembedError(f"n_voxels must be a positive integer, got {n_voxels}.")
    rng = np.random.default_rng(random_state)
    n_mask = len(cortex)
    rows = rng.choice(n_mask, size=min(n_voxels, n_mask), replace=False)
    if n_voxels > n_mask:
        rows = np.concatenate([rows, rng.choice(n_mask, size=n_voxels - n_mask, replace=True)])
    vox = cortex.iloc[rows].copy()
    vox = vox.assign(_hemi_order=(vox["hemi"] == "rh").astype(int)).sort_values(
        ["_hemi_order", "vertex"], kind="stable").drop(columns="_hemi_order").reset_index(drop=True)
    n = len(vox)
    region = vox["region"].to_numpy()
    early = np.isin(region, tuple(_PRF_SIZE))
    ecc_units = np.hypot(vox["rf_x"].to_numpy(), vox["rf_y"].to_numpy())
    # Early voxels: the template pRF plus scatter (a voxel pools many neurons).
    scatter = 0.03 + 0.08 * ecc_units
    rf_x = vox["rf_x"].to_numpy() + early * rng.normal(0.0, 1.0, n) * scatter
    rf_y = vox["rf_y"].to_numpy() + early * rng.normal(0.0, 1.0, n) * scatter
    rf_size = vox["rf_size"].to_numpy() * np.exp(rng.normal(0.0, 0.12, n))
    # Higher-level voxels: large pRFs near the centre, biased to the contralateral field.
    hemi_sign = np.where(vox["hemi"].to_numpy() == "lh", 1.0, -1.0)
    for name in np.unique(region[~early]):
        m = np.flatnonzero(region == name)
        spec = _REGION_BY_NAME.get(name)
        ecc_range, size_range = (spec.rf_eccentricity, spec.rf_size) if spec else ((0.2, 0.8), (0.6, 1.2))
        ecc = rng.uniform(*ecc_range, len(m))
        phi = np.deg2rad(rng.uniform(-80.0, 80.0, len(m)))
        rf_x[m] = hemi_sign[m] * ecc * np.cos(phi)
        rf_y[m] = ecc * np.sin(phi)
        rf_size[m] = rng.uniform(*size_range, len(m))
    rf_size = np.maximum(rf_size, 0.02)
    vox["rf_x"], vox["rf_y"], vox["rf_size"] = rf_x, rf_y, rf_size
    unit = IMAGE_DEGREES / 2
    vox["ecc_deg"] = np.hypot(rf_x, rf_y) * unit
    vox["angle"] = np.rad2deg(np.arctan2(rf_y, np.abs(rf_x)))
    # Every voxel mixes its categories a little differently.
    for c in CATEGORIES:
        vox[f"sel_{c}"] = vox[f"sel_{c}"].to_numpy() * np.exp(rng.normal(0.0, 0.25, n))
    # V1-V3 stay pure energy models; elsewhere the low-level share varies a little.
    jitter = np.where(np.isin(region, ("V1", "V2", "V3")), 1.0, np.exp(rng.normal(0.0, 0.15, n)))
    vox["energy_weight"] = np.clip(vox["energy_weight"].to_numpy() * jitter, 0.0, 1.0)
    return vox


def simulate_cortex(n_voxels: int, *, random_state=None, shift_mm: float = 5.0, size_jitter: float = 0.15,
                    retinotopy_jitter: float = 0.06) -> pd.DataFrame:
    """One simulated subject's voxels: anatomy, ROI labels and ground-truth tuning.

    Parameters
    ----------
    n_voxels : int
        Number of voxels to draw from the subject's visual-cortex mask.
    random_state : int, numpy Generator or None
        Seed of the subject (anatomy and voxel draw).
    shift_mm, size_jitter, retinotopy_jitter : float
        Individual variability, see :func:`cortical_map`.

    Returns
    -------
    DataFrame with ``n_voxels`` rows
        ``hemi``, ``vertex`` (fsaverage5 index within the hemisphere), ``x``,
        ``y``, ``z`` (pial, mm), ``roi`` (localiser label, one of
        :data:`ROI_LABELS`), ``region`` (ground truth, finer: ``PPA-indoor``,
        ``food-medial``, ``V3AB``, ...), ``preferred_category``, ``rf_x``,
        ``rf_y`` (pRF centre in image units, -1..1, y down), ``rf_size``
        (pRF sigma, image units), ``ecc_deg``, ``angle``, ``energy_weight``,
        ``membership`` and ``sel_<category>`` (drive weights).
    """
    rng = np.random.default_rng(random_state)
    anatomy_seed, voxel_seed = rng.integers(0, 2**63 - 1, size=2)
    cortex = cortical_map(random_state=int(anatomy_seed), shift_mm=shift_mm, size_jitter=size_jitter,
                          retinotopy_jitter=retinotopy_jitter)
    return sample_voxels(cortex, n_voxels, random_state=int(voxel_seed))
