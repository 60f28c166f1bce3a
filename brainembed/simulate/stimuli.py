"""Procedurally drawn stimulus images with known labels.

The simulated crowd of brains views images of seven categories
(:data:`CATEGORIES`): faces, bodies, indoor scenes, outdoor scenes, text, food
and man-made objects. Scenes fill the whole image; the other categories are
foreground items drawn on a textured background (oriented gratings, plaids,
smooth noise, gradients, flat colour) or, sometimes, on a blurred scene.
Every image carries its generative attributes (category, position, size, hue,
background texture, contrast) and a table of every *semantic element* drawn in
it, including secondary ones (a person in a street, text on a bottle, fruit on
a kitchen table), so that the response simulator knows how much of each
category lies inside any receptive field (:func:`category_coverage`).

Categories are told apart by structure, not by one pixel statistic: colours,
backgrounds, positions and sizes are drawn from distributions shared by all
categories as far as the category allows.

Coordinates
-----------
Normalised image coordinates run from -1 (left/top edge) to +1 (right/bottom
edge), y pointing down; the image half-width is the unit of ``x``, ``y`` and
``radius``. An element's ``radius`` is half the side of the square with the
area of the element's bounding box (``sqrt(width * height) / 2``); a whole-image
scene therefore has centre (0, 0) and radius 1.
"""

from __future__ import annotations

import colorsys
import functools
import math
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from brainembed.errors import BrainembedError

CATEGORIES = ("face", "body", "indoor", "outdoor", "text", "food", "object")
"""The stimulus categories, in the order used by every array axis."""

SCENE_CATEGORIES = ("indoor", "outdoor")
"""Categories drawn as whole-image scenes."""

_ITEM_CATEGORIES = ("face", "body", "text", "food", "object")
_TAU = 2.0 * math.pi
_SUPERSAMPLE = 2
_TEXTURE_KINDS = ("flat", "grating", "plaid", "noise", "noise_grating", "gradient")
_TEXTURE_P = (0.17, 0.3, 0.1, 0.2, 0.13, 0.1)
_SCENE_CONTEXT_P = 0.15
_SECONDARY_ITEM_P = 0.3
_CLUTTER_P = 0.35

_SKIN = (
    (60, 38, 25), (92, 58, 40), (125, 80, 50), (160, 105, 70), (198, 134, 90),
    (224, 172, 125), (241, 194, 150), (255, 219, 185), (250, 228, 205),
)
_HAIR = (
    (20, 16, 14), (45, 30, 20), (85, 55, 32), (130, 85, 45), (200, 165, 100),
    (150, 65, 30), (140, 140, 140), (225, 222, 215),
)
_IRIS = ((70, 45, 25), (40, 25, 15), (60, 100, 150), (70, 110, 70), (100, 100, 100))


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #
@dataclass
class StimulusSet:
    """Images with their per-image labels and per-element table.

    Attributes
    ----------
    images : ndarray of shape (n_images, image_size, image_size, 3), uint8
        RGB images (grayscale sets hold three equal channels).
    labels : pandas.DataFrame with n_images rows
        Per-image ground truth: ``category`` (one of :data:`CATEGORIES`),
        ``subtype`` (e.g. ``"kitchen"``, ``"mug"``), ``x``, ``y`` (main item
        centre, normalised coordinates in -1..1, y down), ``size`` (main item
        radius as a fraction of the image width), ``hue`` (0..1, dominant hue
        of the main item), ``texture_kind``, ``texture_orientation`` (radians
        in [0, pi), direction of the grating's wave vector in image
        coordinates, x right and y down: 0 gives vertical stripes),
        ``texture_frequency`` (cycles per image width), ``texture_contrast``
        (0..1, 0 when no grating is visible), ``contrast`` (global contrast gain
        applied), ``brightness`` (offset added, in 0..255 units), ``blur``
        (Gaussian blur radius in pixels, 0 for none), ``noise`` (pixel noise
        standard deviation), ``grayscale`` (bool), ``context`` (scene drawn
        behind a foreground item, or ``""``), ``n_objects`` (semantic elements
        drawn), ``mean_luminance`` (0..1) and ``rms_contrast`` (standard
        deviation of luminance, 0..1).
    objects : pandas.DataFrame
        One row per semantic element: ``image`` (row of ``images``),
        ``category``, ``x``, ``y``, ``radius`` (normalised units, see the
        module docstring) and ``role`` (``"main"`` or ``"secondary"``). Every
        image has exactly one ``"main"`` row.
    masks : ndarray of shape (n_images, image_size, image_size), uint8, or None
        Per-pixel semantic label maps (``draw_stimuli(..., masks=True)``): 0
        for background, texture and abstract clutter, ``1 + i`` for pixels
        painted by an element of category ``CATEGORIES[i]`` (the last element
        drawn over a pixel wins; a scene owns every pixel no item covers).
    """

    images: np.ndarray
    labels: pd.DataFrame
    objects: pd.DataFrame
    masks: np.ndarray | None = None

    def __len__(self):
        return int(self.images.shape[0])

    @property
    def image_size(self):
        """int: Side of the square images in pixels."""
        return int(self.images.shape[1])

    def subset(self, indices):
        """Return the images at ``indices``, with labels and objects re-indexed.

        Parameters
        ----------
        indices : array-like of int of shape (n_selected,) or bool of shape (n_images,)
            Rows to keep, in the order given.

        Returns
        -------
        StimulusSet
            ``objects.image`` refers to the rows of the new set.
        """
        try:
            idx = np.arange(len(self))[np.asarray(indices)]
        except (IndexError, TypeError, ValueError):
            raise BrainembedError("indices must be integers in 0..n_images-1 or a boolean mask "
                                  "of length n_images.") from None
        if idx.ndim != 1:
            raise BrainembedError("indices must select a one-dimensional list of images.")
        order = pd.DataFrame({"image": idx, "_new": np.arange(idx.size)})
        objects = self.objects.reset_index(drop=True).reset_index(names="_row")
        objects = order.merge(objects, on="image", how="inner").sort_values(["_new", "_row"])
        objects = objects.assign(image=objects["_new"]).drop(columns=["_new", "_row"])
        return StimulusSet(self.images[idx], self.labels.iloc[idx].reset_index(drop=True),
                           objects.reset_index(drop=True), None if self.masks is None else self.masks[idx])

    @classmethod
    def concatenate(cls, sets):
        """Stack several stimulus sets into one.

        Parameters
        ----------
        sets : sequence of StimulusSet
            Sets with the same image size.

        Returns
        -------
        StimulusSet
        """
        sets = list(sets)
        if not sets:
            raise BrainembedError("concatenate needs at least one StimulusSet.")
        if len({s.image_size for s in sets}) != 1:
            raise BrainembedError("cannot concatenate stimulus sets of different image sizes.")
        offsets = np.cumsum([0] + [len(s) for s in sets[:-1]])
        objects = pd.concat([s.objects.assign(image=s.objects["image"] + off)
                             for s, off in zip(sets, offsets)], ignore_index=True)
        masks = None
        if all(s.masks is not None for s in sets):
            masks = np.concatenate([s.masks for s in sets])
        return cls(np.concatenate([s.images for s in sets]),
                   pd.concat([s.labels for s in sets], ignore_index=True), objects, masks)


def draw_stimuli(n_images, *, image_size=112, random_state=None, category_weights=None,
                 grayscale=False, progress=False, masks=False):
    """Draw a set of procedural stimulus images with their labels.

    Each image is drawn at twice its size with Pillow and downsampled
    (antialiasing). Image ``i`` depends only on ``random_state`` and ``i``:
    asking for more images with the same seed extends the set without changing
    its first images.

    Parameters
    ----------
    n_images : int
        Number of images, >= 0.
    image_size : int, default=112
        Side of the square images in pixels, >= 16.
    random_state : int, numpy.random.Generator or None
        Seed or generator; None draws fresh entropy.
    category_weights : dict of {str: float}, sequence of float or None
        Relative frequency of each category (a dict may leave categories out,
        they get weight 0; a sequence follows :data:`CATEGORIES`). None gives
        every category the same weight.
    grayscale : bool, default=False
        Draw grayscale images (three equal channels) with the flatter tone,
        lifted blacks and grain of old grayscale datasets.
    progress : bool, default=False
        Show a progress bar (tqdm) on the terminal.
    masks : bool, default=False
        Also record which element painted each pixel (:attr:`StimulusSet.masks`).
        The images are the same either way.

    Returns
    -------
    StimulusSet
        ``images`` of shape (n_images, image_size, image_size, 3), uint8, with
        its ``labels`` and ``objects`` tables (and ``masks`` if asked for).
    """
    n_images = _check_int(n_images, "n_images", minimum=0)
    image_size = _check_int(image_size, "image_size", minimum=16)
    if not isinstance(grayscale, (bool, np.bool_)):
        raise BrainembedError(f"grayscale must be True or False, got {grayscale!r}.")
    if not isinstance(masks, (bool, np.bool_)):
        raise BrainembedError(f"masks must be True or False, got {masks!r}.")
    probs = _category_probabilities(category_weights)
    rng = _as_generator(random_state)
    root = np.random.SeedSequence(int(rng.integers(0, 2**63 - 1)))
    children = root.spawn(n_images)

    images = np.empty((n_images, image_size, image_size, 3), dtype=np.uint8)
    label_maps = np.zeros((n_images, image_size, image_size), dtype=np.uint8) if masks else None
    labels, objects = [], []
    iterator = range(n_images)
    if progress:
        try:
            from tqdm.auto import tqdm
            iterator = tqdm(iterator, total=n_images, desc="drawing stimuli", unit="img")
        except ImportError:  # pragma: no cover - tqdm is optional
            pass
    cumulative = np.cumsum(probs)
    for i in iterator:
        seed = children[i].generate_state(2)
        rnd = random.Random(int(seed[0]) << 32 | int(seed[1]))
        nprng = np.random.default_rng(seed)
        category = CATEGORIES[min(int(np.searchsorted(cumulative, rnd.random() * cumulative[-1],
                                                      side="right")), len(CATEGORIES) - 1)]
        image, label, records, label_map = _draw_image(category, rnd, nprng, image_size, bool(grayscale),
                                                       bool(masks))
        images[i] = image
        if masks:
            label_maps[i] = label_map
        labels.append(label)
        objects.extend((i,) + rec for rec in records)

    label_columns = ["category", "subtype", "x", "y", "size", "hue", "texture_kind",
                     "texture_orientation", "texture_frequency", "texture_contrast", "contrast",
                     "brightness", "blur", "noise", "grayscale", "context", "n_objects",
                     "mean_luminance", "rms_contrast"]
    labels = pd.DataFrame(labels, columns=label_columns)
    objects = pd.DataFrame(objects, columns=["image", "category", "x", "y", "radius", "role"])
    objects = objects.astype({"image": np.int64, "x": np.float64, "y": np.float64,
                              "radius": np.float64})
    return StimulusSet(images=images, labels=labels, objects=objects, masks=label_maps)


def category_coverage(objects, n_images, centres, sigma, *, categories=CATEGORIES,
                      chunk_size=2048):
    """How much of each category lies inside each Gaussian receptive field.

    Each element is approximated by an axis-aligned square of side
    ``2 * radius`` centred on it (the area of its bounding box); its coverage of
    a receptive field is the probability mass of the isotropic Gaussian
    N(centre, sigma^2 I) inside that square, a closed form in the normal CDF:
    ``[Phi((x + r - cx) / s) - Phi((x - r - cx) / s)] * [same for y]``. Values of
    one element lie in [0, 1] (1: the field lies entirely inside the element;
    a whole-image scene gives the field's mass inside the image). Elements of
    the same category in one image add up, so crowds can exceed 1.

    Parameters
    ----------
    objects : pandas.DataFrame
        Columns ``image``, ``category``, ``x``, ``y``, ``radius`` as in
        :attr:`StimulusSet.objects`.
    n_images : int
        Number of images (``objects.image`` lies in 0..n_images-1).
    centres : array-like of shape (n_centres, 2)
        Receptive-field centres (x, y) in normalised image coordinates.
    sigma : float or array-like of shape (n_centres,)
        Receptive-field standard deviations in normalised units, > 0.
    categories : sequence of str, default=CATEGORIES
        Categories to report, in output order; elements of other categories
        are ignored.
    chunk_size : int, default=2048
        Receptive fields processed at once (bounds memory to about
        ``n_elements * chunk_size`` floats).

    Returns
    -------
    coverage : ndarray of shape (n_images, n_categories, n_centres), float32
    """
    from scipy import sparse
    from scipy.special import ndtr

    n_images = _check_int(n_images, "n_images", minimum=0)
    chunk_size = _check_int(chunk_size, "chunk_size", minimum=1)
    categories = tuple(categories)
    if not categories or len(set(categories)) != len(categories):
        raise BrainembedError("categories must be a non-empty sequence of distinct names.")
    missing = {"image", "category", "x", "y", "radius"} - set(getattr(objects, "columns", ()))
    if missing:
        raise BrainembedError("objects must be a DataFrame with columns image, category, x, y "
                              f"and radius; missing {sorted(missing)}.")
    centres = np.asarray(centres, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise BrainembedError(f"centres must have shape (n_centres, 2), got {centres.shape}.")
    if not np.all(np.isfinite(centres)):
        raise BrainembedError("centres contain NaN or Inf.")
    n_centres = centres.shape[0]
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim == 0:
        sigma = np.full(n_centres, float(sigma))
    if sigma.shape != (n_centres,):
        raise BrainembedError(f"sigma must be a scalar or have shape ({n_centres},), "
                              f"got {sigma.shape}.")
    if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        raise BrainembedError("sigma must be finite and > 0.")

    image = objects["image"].to_numpy()
    if image.size and (not np.issubdtype(image.dtype, np.integer)
                       or image.min() < 0 or image.max() >= n_images):
        raise BrainembedError(f"objects.image must hold integers in 0..{n_images - 1}.")
    code = pd.Categorical(objects["category"], categories=categories).codes
    keep = code >= 0
    x = objects["x"].to_numpy(np.float64)[keep]
    y = objects["y"].to_numpy(np.float64)[keep]
    r = objects["radius"].to_numpy(np.float64)[keep]
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(r))):
        raise BrainembedError("objects x, y and radius must be finite.")
    if np.any(r < 0):
        raise BrainembedError("objects.radius must be >= 0.")
    n_cat = len(categories)
    group = image[keep].astype(np.int64) * n_cat + code[keep]
    n_elem = group.size
    out = np.zeros((n_images * n_cat, n_centres), dtype=np.float32)
    if n_elem == 0 or n_centres == 0:
        return out.reshape(n_images, n_cat, n_centres)
    pool = sparse.csr_matrix((np.ones(n_elem), (group, np.arange(n_elem))),
                             shape=(n_images * n_cat, n_elem))
    x, y, r = x[:, None], y[:, None], r[:, None]
    for start in range(0, n_centres, chunk_size):
        stop = min(start + chunk_size, n_centres)
        cx, cy, s = centres[start:stop, 0], centres[start:stop, 1], sigma[start:stop]
        inside_x = ndtr((x + r - cx) / s) - ndtr((x - r - cx) / s)
        inside_y = ndtr((y + r - cy) / s) - ndtr((y - r - cy) / s)
        out[:, start:stop] = pool @ (inside_x * inside_y)
    return out.reshape(n_images, n_cat, n_centres)


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #
def _check_int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise BrainembedError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise BrainembedError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def _as_generator(random_state):
    if random_state is None or isinstance(random_state, (int, np.integer)):
        if isinstance(random_state, (bool, np.bool_)):
            raise BrainembedError("random_state must be an int, a numpy Generator or None.")
        if random_state is not None and random_state < 0:
            raise BrainembedError(f"random_state must be >= 0, got {random_state}.")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise BrainembedError("random_state must be an int, a numpy Generator or None, "
                          f"got {type(random_state).__name__}.")


def _category_probabilities(weights):
    if weights is None:
        return np.full(len(CATEGORIES), 1.0 / len(CATEGORIES))
    if isinstance(weights, dict):
        unknown = set(weights) - set(CATEGORIES)
        if unknown:
            raise BrainembedError(f"unknown categories in category_weights: {sorted(unknown)}; "
                                  f"known are {', '.join(CATEGORIES)}.")
        values = [weights.get(c, 0.0) for c in CATEGORIES]
    else:
        values = list(weights) if not isinstance(weights, str) else None
        if values is None or len(values) != len(CATEGORIES):
            raise BrainembedError(f"category_weights must be a dict or {len(CATEGORIES)} "
                                  f"numbers in the order {', '.join(CATEGORIES)}.")
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BrainembedError("category_weights must hold numbers.") from None
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise BrainembedError("category_weights must be finite, >= 0 and not all zero.")
    return values / values.sum()


# --------------------------------------------------------------------------- #
# Small geometry and colour helpers
# --------------------------------------------------------------------------- #
@lru_cache(maxsize=16)
def _unit_circle(n):
    return tuple((math.cos(_TAU * i / n), math.sin(_TAU * i / n)) for i in range(n))


def _hsv(h, s, v):
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (int(r * 255), int(g * 255), int(b * 255))


def _hue_of(colour):
    return colorsys.rgb_to_hsv(*(c / 255.0 for c in colour))[0]


def _shade(colour, factor):
    return tuple(min(255, max(0, int(c * factor))) for c in colour)


def _mix(c1, c2, t):
    return tuple(int(a + (b - a) * t) for a, b in zip(c1, c2))


def _jitter(colour, rnd, amount=18):
    return tuple(min(255, max(0, c + rnd.randint(-amount, amount))) for c in colour)


def _luma(colour):
    return (0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]) / 255.0


def _random_colour(rnd, s=(0.15, 1.0), v=(0.15, 1.0)):
    return _hsv(rnd.random(), rnd.uniform(*s), rnd.uniform(*v))


def _contrasting(rnd, colour):
    """A colour whose luminance differs clearly from ``colour``."""
    for _ in range(8):
        c = _random_colour(rnd)
        if abs(_luma(c) - _luma(colour)) > 0.4:
            return c
    return (15, 15, 15) if _luma(colour) > 0.5 else (240, 240, 240)


class _Frame:
    """A local coordinate frame: origin (cx, cy), scale k pixels per unit, rotation."""

    __slots__ = ("cx", "cy", "k", "c", "s")

    def __init__(self, cx, cy, k, angle=0.0):
        self.cx, self.cy, self.k = cx, cy, k
        self.c, self.s = math.cos(angle), math.sin(angle)

    def p(self, x, y):
        k = self.k
        return (self.cx + k * (x * self.c - y * self.s), self.cy + k * (x * self.s + y * self.c))

    def pts(self, seq):
        return [self.p(x, y) for x, y in seq]

    def ellipse(self, x, y, rx, ry, n=20, angle=0.0):
        ca, sa = math.cos(angle), math.sin(angle)
        return [self.p(x + rx * u * ca - ry * v * sa, y + rx * u * sa + ry * v * ca)
                for u, v in _unit_circle(n)]

    def arc(self, x, y, rx, ry, a0, a1, n=10):
        return [self.p(x + rx * math.cos(a0 + (a1 - a0) * i / (n - 1)),
                       y + ry * math.sin(a0 + (a1 - a0) * i / (n - 1))) for i in range(n)]

    def w(self, t):
        return max(1, int(round(t * self.k)))


class _Canvas:
    """The supersampled image being drawn, its random sources and element records."""

    def __init__(self, img, rnd, nprng, track=False):
        self.img = img
        self.d = ImageDraw.Draw(img)
        self.r = rnd
        self.np = nprng
        self.size = img.size[0]
        self.records = []
        self.kind = ""
        self.label_map = np.zeros((self.size, self.size), np.uint8) if track else None

    def fill_unlabelled(self, category):
        """Give every pixel no element has painted yet to ``category`` (a scene)."""
        if self.label_map is not None:
            self.label_map[self.label_map == 0] = CATEGORIES.index(category) + 1

    def add(self, category, cx, cy, width, height, role):
        half = self.size / 2.0
        radius = 0.5 * math.sqrt(max(width, 1.0) * max(height, 1.0))
        self.records.append((category, cx / half - 1.0, cy / half - 1.0, radius / half, role))

    def circle(self, x, y, r, fill=None, outline=None, width=1):
        self.d.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=outline, width=width)

    def dots(self, cx, cy, rx, ry, n, colour, size):
        r = self.r
        for _ in range(n):
            a, u = r.random() * _TAU, math.sqrt(r.random())
            self.circle(cx + rx * u * math.cos(a), cy + ry * u * math.sin(a), size, fill=colour)


def _paints(category):
    """Decorate an element drawer so that the pixels it changes are labelled ``category``."""
    code = CATEGORIES.index(category) + 1

    def decorate(draw):
        @functools.wraps(draw)
        def drawer(cv, *args, **kwargs):
            if cv.label_map is None:
                return draw(cv, *args, **kwargs)
            before = np.asarray(cv.img)
            out = draw(cv, *args, **kwargs)
            cv.label_map[(np.asarray(cv.img) != before).any(axis=2)] = code
            return out
        return drawer
    return decorate


@lru_cache(maxsize=64)
def _font(size):
    return ImageFont.load_default(size=size)


# --------------------------------------------------------------------------- #
# Backgrounds and textures
# --------------------------------------------------------------------------- #
@lru_cache(maxsize=8)
def _axis(n):
    return np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)


def _texture_params(rnd, kind=None):
    if kind is None:
        kind = rnd.choices(_TEXTURE_KINDS, weights=_TEXTURE_P)[0]
    contrast = {"flat": 0.0, "noise": 0.0, "gradient": 0.0}.get(kind, rnd.uniform(0.15, 1.0))
    return {"kind": kind, "orientation": rnd.uniform(0.0, math.pi),
            "frequency": math.exp(rnd.uniform(math.log(1.5), math.log(24.0))),
            "phase": rnd.uniform(0.0, _TAU), "contrast": contrast}


def _grating(n, orientation, frequency, phase):
    """cos grating of shape (n, n), float32, ``frequency`` cycles per image width."""
    u = _axis(n)
    fx = np.float32(_TAU * frequency * math.cos(orientation))
    fy = np.float32(_TAU * frequency * math.sin(orientation))
    return np.cos(fx * u[None, :] + fy * u[:, None] + np.float32(phase))


def _smooth_noise(nprng, n, cells):
    """Smooth value noise in [0, 1] of shape (n, n) from a (cells, cells) random grid."""
    grid = (nprng.random((cells, cells)) * 255).astype(np.uint8)
    up = Image.fromarray(grid, mode="L").resize((n, n), Image.BICUBIC)
    return np.asarray(up, dtype=np.float32) / 255.0


def _background(rnd, nprng, size, tex):
    """A textured RGB background of side ``size`` following texture parameters ``tex``."""
    c1 = _random_colour(rnd, s=(0.0, 0.9), v=(0.1, 1.0))
    relation = rnd.random()
    if relation < 0.4:
        c2 = _hsv(_hue_of(c1) + rnd.uniform(-0.1, 0.1), rnd.uniform(0.0, 0.8), rnd.uniform(0, 1))
    elif relation < 0.7:
        c2 = _random_colour(rnd)
    else:
        c2 = _shade(c1, rnd.uniform(0.3, 1.7))
    kind = tex["kind"]
    if kind == "flat":
        return Image.new("RGB", (size, size), c1), _hue_of(c1)
    t = None
    if kind in ("grating", "noise_grating", "plaid"):
        g = _grating(size, tex["orientation"], tex["frequency"], tex["phase"])
        if kind == "plaid":
            g = 0.5 * (g + _grating(size, tex["orientation"] + rnd.uniform(0.6, 1.6),
                                    tex["frequency"] * rnd.uniform(0.6, 1.6), rnd.random() * 6))
        if rnd.random() < 0.25:  # square-wave grating
            g = np.sign(g)
        t = 0.5 + 0.5 * tex["contrast"] * g
    if kind in ("noise", "noise_grating"):
        cells = rnd.choice((3, 4, 6, 9, 14, 22, 34))
        noise = _smooth_noise(nprng, size, cells)
        t = noise if t is None else 0.5 * t + 0.5 * noise
    if kind == "gradient":
        u = _axis(size)
        ramp = (math.cos(tex["orientation"]) * u[None, :] + math.sin(tex["orientation"]) * u[:, None])
        t = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    lut = np.stack([np.linspace(a, b, 256) for a, b in zip(c1, c2)], axis=1).astype(np.uint8)
    t8 = (t * 255.0).astype(np.uint8)
    return Image.fromarray(np.take(lut, t8, axis=0), mode="RGB"), _hue_of(c1)


def _clutter(cv, n):
    """Abstract non-semantic shapes (no element records)."""
    r, S = cv.r, cv.size
    for _ in range(n):
        x, y, rad = r.uniform(0, S), r.uniform(0, S), S * r.uniform(0.03, 0.15)
        col = _random_colour(r)
        kind = r.random()
        if kind < 0.3:
            cv.circle(x, y, rad, fill=col)
        elif kind < 0.6:
            f = _Frame(x, y, rad, r.uniform(0, _TAU))
            m = r.randint(3, 6)
            cv.d.polygon(f.pts([(math.cos(_TAU * i / m), math.sin(_TAU * i / m))
                                for i in range(m)]), fill=col)
        elif kind < 0.85:
            cv.d.line([(x, y), (x + r.uniform(-3, 3) * rad, y + r.uniform(-3, 3) * rad)],
                      fill=col, width=max(1, int(rad * 0.2)))
        else:
            cv.d.rectangle((x - rad, y - rad * 0.6, x + rad, y + rad * 0.6), outline=col,
                           width=max(1, int(rad * 0.15)))


# --------------------------------------------------------------------------- #
# Faces
# --------------------------------------------------------------------------- #
def _skin_colour(rnd):
    if rnd.random() < 0.08:  # painted / cartoon faces break the skin-colour cue
        return _random_colour(rnd, s=(0.2, 0.8), v=(0.4, 1.0))
    return _jitter(rnd.choice(_SKIN), rnd, 14)


def _hair_colour(rnd):
    if rnd.random() < 0.1:
        return _random_colour(rnd, s=(0.4, 1.0), v=(0.3, 0.9))
    return _jitter(rnd.choice(_HAIR), rnd, 12)


@_paints("face")
def _draw_face(cv, cx, cy, rad, role, portrait=None):
    """A face (head radius ``rad`` pixels) with hair, eyes, brows, nose, mouth."""
    r, d = cv.r, cv.d
    angle = r.uniform(-0.35, 0.35)
    f = _Frame(cx, cy, rad, angle)
    skin, hair = _skin_colour(r), _hair_colour(r)
    dark_skin = _shade(skin, 0.78)
    head_rx = r.uniform(0.7, 0.84)
    yaw = r.uniform(-0.17, 0.17)
    if portrait is None:
        portrait = r.random() < 0.45
    if portrait:
        cloth = _random_colour(r)
        d.polygon(f.ellipse(0, 1.95, r.uniform(1.3, 1.8), 0.85, 24), fill=cloth)
        d.polygon(f.pts([(-0.28, 0.6), (0.28, 0.6), (0.3, 1.25), (-0.3, 1.25)]), fill=dark_skin)
        if r.random() < 0.5:  # collar
            d.polygon(f.pts([(-0.32, 1.15), (0, 1.45), (0.32, 1.15)]), fill=_shade(cloth, 0.7))
        cv.add("body", *f.p(0, 1.9), 3.2 * rad, 1.9 * rad, "secondary")
    style = r.choice(("short", "short", "long", "bald", "bun", "curly"))
    if style == "long":
        d.polygon(f.ellipse(0, 0.35, head_rx + 0.22, 1.28, 24), fill=hair)
    elif style == "short":
        d.polygon(f.ellipse(0, -0.1, head_rx + 0.07, 1.0, 24), fill=hair)
    elif style == "bun":
        d.polygon(f.ellipse(0, -1.05, 0.33, 0.3, 14), fill=hair)
    elif style == "curly":
        for i in range(9):
            a = math.pi + math.pi * (i / 8.0) * 1.2 - 0.1 * math.pi
            d.polygon(f.ellipse(0.95 * head_rx * math.cos(a), 0.92 * math.sin(a) - 0.05,
                                0.3, 0.3, 10), fill=hair)
    for side in (-1, 1):  # ears
        d.polygon(f.ellipse(side * (head_rx - 0.02) + yaw * 0.4, 0.05, 0.13, 0.22, 10),
                  fill=dark_skin)
    d.polygon(f.ellipse(0, 0, head_rx, 1.0, 28), fill=skin)
    if style != "bald":  # fringe
        top = f.arc(0, 0, head_rx, 1.0, math.pi + 0.2, _TAU - 0.2, 12)
        parting = r.uniform(-0.4, 0.4)
        low = r.uniform(-0.62, -0.42)
        lower = [f.p(head_rx * 0.9, low + 0.15), f.p(parting, low - 0.05),
                 f.p(-head_rx * 0.9, low + 0.15)]
        d.polygon(top + lower, fill=hair)
    eye_y, eye_dx = r.uniform(-0.15, -0.02), r.uniform(0.28, 0.38)
    iris = _jitter(r.choice(_IRIS), r, 10)
    gaze = r.uniform(-0.05, 0.05)
    closed = r.random() < 0.08
    lw = f.w(0.055)
    for side in (-1, 1):
        ex = side * eye_dx + yaw
        by = eye_y - r.uniform(0.14, 0.22)
        d.line([f.p(ex - 0.17, by + 0.03 * side * 0), f.p(ex + 0.17, by - 0.02)], fill=hair,
               width=f.w(0.06))
        if closed:
            d.line(f.arc(ex, eye_y, 0.14, 0.05, 0.2, math.pi - 0.2, 6), fill=(30, 20, 15), width=lw)
            continue
        d.polygon(f.ellipse(ex, eye_y, 0.15, 0.085, 14), fill=(245, 245, 240))
        d.polygon(f.ellipse(ex + gaze, eye_y, 0.075, 0.075, 10), fill=iris)
        d.polygon(f.ellipse(ex + gaze, eye_y, 0.035, 0.035, 8), fill=(10, 10, 10))
    nose = r.random()
    if nose < 0.5:
        d.polygon(f.pts([(yaw, eye_y + 0.05), (yaw - 0.1, 0.3), (yaw + 0.1, 0.3)]),
                  fill=dark_skin)
    else:
        d.line([f.p(yaw + 0.02, eye_y + 0.05), f.p(yaw + 0.06, 0.28), f.p(yaw - 0.06, 0.3)],
               fill=_shade(skin, 0.6), width=lw)
    lips = _mix(_shade(skin, 0.75), (170, 40, 50), r.uniform(0.2, 0.7))
    mouth = r.random()
    my = r.uniform(0.48, 0.58)
    if mouth < 0.45:
        d.line(f.arc(yaw, my - 0.1, r.uniform(0.18, 0.3), 0.12, 0.3, math.pi - 0.3, 8),
               fill=lips, width=f.w(0.07))
    elif mouth < 0.75:
        d.polygon(f.ellipse(yaw, my, r.uniform(0.15, 0.25), r.uniform(0.06, 0.14), 14),
                  fill=_shade(lips, 0.5))
        d.polygon(f.pts([(yaw - 0.12, my - 0.06), (yaw + 0.12, my - 0.06),
                         (yaw + 0.1, my - 0.01), (yaw - 0.1, my - 0.01)]), fill=(240, 240, 235))
    else:
        d.line([f.p(yaw - 0.2, my), f.p(yaw + 0.2, my)], fill=lips, width=f.w(0.07))
    if r.random() < 0.1:  # beard
        d.polygon(f.arc(0, 0, head_rx, 1.0, 0.15, math.pi - 0.15, 10)
                  + [f.p(-head_rx * 0.7, 0.45), f.p(yaw, my - 0.12), f.p(head_rx * 0.7, 0.45)],
                  fill=hair)
    if r.random() < 0.2:  # glasses
        frame_col = _random_colour(r, v=(0.05, 0.6))
        for side in (-1, 1):
            d.polygon(f.ellipse(side * eye_dx + yaw, eye_y, 0.22, 0.17, 16), outline=frame_col,
                      width=f.w(0.045))
        d.line([f.p(yaw - eye_dx + 0.22, eye_y), f.p(yaw + eye_dx - 0.22, eye_y)],
               fill=frame_col, width=f.w(0.045))
    cv.add("face", cx, cy, 2 * (head_rx + 0.1) * rad, 2.1 * rad, role)
    cv.kind = "portrait" if portrait else "head"
    return _hue_of(skin)


# --------------------------------------------------------------------------- #
# Bodies
# --------------------------------------------------------------------------- #
_POSES = {  # angles in radians, positive = away from the body's midline
    # (left arm, left elbow, right arm, right elbow, left hip, left knee, right hip, right knee)
    "stand": (0.15, 0.05, 0.15, 0.05, 0.06, 0.0, 0.06, 0.0),
    "walk": (0.3, 0.4, 0.2, -0.3, 0.35, -0.3, -0.15, -0.1),
    "wave": (0.15, 0.05, 2.4, 0.5, 0.08, 0.0, 0.08, 0.0),
    "cheer": (2.5, 0.3, 2.5, 0.3, 0.3, 0.0, 0.3, 0.0),
    "run": (1.0, -1.4, 0.6, 1.0, 0.7, -1.0, 0.2, 0.4),
    "reach": (1.5, 0.0, 1.5, 0.1, 0.12, 0.0, 0.12, 0.0),
    "hips": (0.7, -2.0, 0.7, -2.0, 0.15, 0.0, 0.15, 0.0),
    "crouch": (0.4, -0.6, 0.4, -0.6, 1.2, -1.5, 1.2, -1.5),
}


@_paints("body")
def _draw_body(cv, cx, cy, rad, role):
    """A standing figure of height ``2 * rad`` pixels in a random pose."""
    r, d = cv.r, cv.d
    lean = r.uniform(-0.2, 0.2)
    f = _Frame(cx, cy, 2 * rad, lean)
    pose_name = r.choice(tuple(_POSES))
    pose = [a + r.uniform(-0.3, 0.3) for a in _POSES[pose_name]]
    if r.random() < 0.5:
        pose = pose[2:4] + pose[0:2] + pose[6:8] + pose[4:6]
    skin, hair = _skin_colour(r), _hair_colour(r)
    shirt = _random_colour(r)
    trousers = _random_colour(r) if r.random() < 0.6 else _random_colour(r, s=(0, 0.4),
                                                                         v=(0.1, 0.5))
    shoes = _random_colour(r, v=(0.05, 0.5))
    dress = r.random() < 0.2
    build = r.uniform(0.8, 1.25)
    sh_y, hip_y = -0.3, 0.06
    sh_w, hip_w = 0.11 * build, 0.075 * build
    arm_w, leg_w = f.w(0.045 * build), f.w(0.06 * build)
    upper_arm, fore_arm, thigh, shin = 0.15, 0.14, 0.21, 0.21

    def limb(x0, y0, a0, bend, l0, l1):
        side = -1.0 if x0 < 0 else 1.0  # positive angles point away from the body
        x1, y1 = x0 + side * l0 * math.sin(a0), y0 + l0 * math.cos(a0)
        a1 = a0 + bend
        return (x0, y0), (x1, y1), (x1 + side * l1 * math.sin(a1), y1 + l1 * math.cos(a1))

    legs = [limb(-hip_w * 0.55, hip_y, pose[4], pose[5], thigh, shin),
            limb(hip_w * 0.55, hip_y, pose[6], pose[7], thigh, shin)]
    arms = [limb(-sh_w, sh_y + 0.02, pose[0], pose[1], upper_arm, fore_arm),
            limb(sh_w, sh_y + 0.02, pose[2], pose[3], upper_arm, fore_arm)]
    for leg in legs:
        d.line(f.pts(leg), fill=trousers, width=leg_w, joint="curve")
        for p in f.pts(leg[:2]):
            cv.circle(*p, leg_w / 2, fill=trousers)
        fx, fy = f.p(*leg[2])
        cv.circle(fx, fy, leg_w * 0.65, fill=shoes)
    if dress:
        d.polygon(f.pts([(-sh_w, sh_y), (sh_w, sh_y), (0.2 * build, 0.32),
                         (-0.2 * build, 0.32)]), fill=shirt)
    else:
        d.polygon(f.pts([(-sh_w, sh_y), (sh_w, sh_y), (hip_w, hip_y + 0.03),
                         (-hip_w, hip_y + 0.03)]), fill=shirt)
        d.polygon(f.pts([(-hip_w, hip_y - 0.01), (hip_w, hip_y - 0.01), (hip_w * 1.05, hip_y + 0.06),
                         (-hip_w * 1.05, hip_y + 0.06)]), fill=trousers)
    for p in (f.p(-sh_w, sh_y + 0.02), f.p(sh_w, sh_y + 0.02)):
        cv.circle(*p, arm_w * 0.7, fill=shirt)
    sleeve = r.random() < 0.6
    for arm in arms:
        pts = f.pts(arm)
        d.line(pts, fill=shirt if sleeve else skin, width=arm_w, joint="curve")
        if sleeve and r.random() < 0.5:
            d.line(pts[1:], fill=skin, width=arm_w, joint="curve")
        cv.circle(*pts[1], arm_w / 2, fill=shirt if sleeve else skin)
        cv.circle(*pts[2], arm_w * 0.7, fill=skin)
    head_r = 0.065 * r.uniform(0.9, 1.1)
    d.line([f.p(0, sh_y), f.p(0, sh_y - 0.05)], fill=skin, width=f.w(0.04))
    hx, hy = f.p(0, sh_y - 0.04 - head_r)
    hk = head_r * f.k
    if r.random() < 0.85:
        cv.circle(hx, hy - hk * 0.08, hk * 1.06, fill=hair)
    cv.circle(hx, hy, hk, fill=skin)
    if r.random() < 0.8:
        d.chord((hx - hk * 1.06, hy - hk * 1.14, hx + hk * 1.06, hy + hk * 0.6), 180, 360,
                fill=hair)
    if hk > 0.035 * cv.size:  # large enough to show a face
        facing = r.uniform(-0.3, 0.3) * hk
        for side in (-1, 1):
            cv.circle(hx + side * 0.35 * hk + facing, hy + 0.05 * hk, 0.1 * hk, fill=(25, 20, 20))
        d.line([(hx - 0.25 * hk + facing, hy + 0.5 * hk), (hx + 0.25 * hk + facing,
                                                            hy + 0.5 * hk)],
               fill=_shade(skin, 0.6), width=max(1, int(0.08 * hk)))
        cv.add("face", hx, hy, 2 * hk, 2.2 * hk, "secondary")
    all_pts = [p for limb_ in legs + arms for p in f.pts(limb_)] + [(hx, hy - hk), (hx, hy + hk)]
    xs, ys = [p[0] for p in all_pts], [p[1] for p in all_pts]
    cv.add("body", (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs) + arm_w,
           max(ys) - min(ys), role)
    cv.kind = pose_name
    return _hue_of(shirt)


def _draw_people(cv, cx, cy, rad, role):
    """One figure, sometimes with others beside it (secondary)."""
    r = cv.r
    if r.random() < 0.35:
        for _ in range(r.randint(1, 2)):
            s = rad * r.uniform(0.5, 1.0)
            ox = cx + r.choice((-1, 1)) * r.uniform(0.6, 1.3) * rad
            _draw_body(cv, ox, cy + (rad - s) * r.uniform(-0.3, 1.0), s, "secondary")
    return _draw_body(cv, cx, cy, rad, role)


# --------------------------------------------------------------------------- #
# Text
# --------------------------------------------------------------------------- #
_CONSONANTS = "bcdfghjklmnprstvwxzbcdlmnrst"
_VOWELS = "aeiouyaeio"
_SIGN_COLOURS = (((0, 110, 60), (250, 250, 250)), ((20, 60, 150), (250, 250, 250)),
                 ((250, 210, 0), (15, 15, 15)), ((200, 25, 30), (250, 250, 250)),
                 ((245, 245, 240), (20, 20, 20)), ((20, 20, 20), (250, 250, 250)),
                 ((20, 20, 20), (250, 200, 0)), ((240, 120, 20), (15, 15, 15)))


def _word(rnd):
    n = rnd.choice((1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9))
    start = rnd.random() < 0.5
    w = "".join(rnd.choice(_CONSONANTS if (i % 2 == 0) == start else _VOWELS) for i in range(n))
    if rnd.random() < 0.08:
        w = str(rnd.randint(1, 9999))
    case = rnd.random()
    return w.upper() if case < 0.3 else (w.capitalize() if case < 0.55 else w)


def _text_lines(cv, x0, y0, x1, y1, font_px, colour, align="left", max_lines=12, bold=0):
    """Fill the box with lines of pseudo-words; return the used box."""
    r, d = cv.r, cv.d
    font_px = int(min(max(font_px, 8), 120))
    font_px -= font_px % 2
    font = _font(font_px)
    line_h = font_px * r.uniform(1.1, 1.45)
    n_lines = max(1, min(max_lines, int((y1 - y0) / line_h)))
    width = x1 - x0
    used_w = 0.0
    y = y0
    for _ in range(n_lines):
        words, length = [], 0.0
        target = width * (r.uniform(0.5, 1.0) if n_lines > 1 else 1.0)
        for _ in range(12):
            w = _word(r)
            new = font.getlength(" ".join(words + [w]))
            if new > width or (new > target and words):
                if words:
                    break
                continue  # the first word is too long for the box: try another
            words.append(w)
            length = new
        if not words:
            continue
        line = " ".join(words)
        x = x0 if align == "left" else x0 + (width - length) / 2
        d.text((x, y), line, font=font, fill=colour, stroke_width=bold, stroke_fill=colour)
        used_w = max(used_w, length)
        y += line_h
    return (x0 if align == "left" else x0 + (width - used_w) / 2), y0, used_w, y - y0


@_paints("text")
def _draw_text(cv, cx, cy, rad, role, kind=None):
    """Signs, pages, posters, screens or bare words centred on (cx, cy)."""
    r, d = cv.r, cv.d
    kind = kind or r.choice(("page", "sign", "sign", "poster", "bare", "bare", "screen"))
    aspect = r.uniform(0.35, 0.8) if kind in ("sign", "bare") else r.uniform(0.7, 1.35)
    w = 2 * rad / math.sqrt(aspect)
    h = w * aspect
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    pad = 0.08 * min(w, h)
    if kind == "page":
        paper = _hsv(r.uniform(0.05, 0.17), r.uniform(0, 0.25), r.uniform(0.75, 1.0))
        if r.random() < 0.3:
            paper = _random_colour(r, s=(0.0, 0.6), v=(0.5, 1.0))
        ink = _contrasting(r, paper) if r.random() < 0.3 else _shade(paper, r.uniform(0.05, 0.3))
        d.rectangle((x0, y0, x1, y1), fill=paper, outline=_shade(paper, 0.8))
        y = y0 + pad
        if r.random() < 0.6:
            _, _, _, hh = _text_lines(cv, x0 + pad, y, x1 - pad, y + h * 0.25, h * 0.14, ink,
                                      max_lines=1, bold=1)
            y += hh + pad * 0.5
        _text_lines(cv, x0 + pad, y, x1 - pad, y1 - pad, h * r.uniform(0.07, 0.13), ink)
        colour = paper
    elif kind in ("sign", "poster", "screen"):
        if kind == "screen":
            board = _random_colour(r, s=(0, 0.7), v=(0.02, 0.2))
            ink = _random_colour(r, s=(0, 0.9), v=(0.7, 1.0))
            d.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=(40, 40, 45))
        elif r.random() < 0.5:
            board, ink = r.choice(_SIGN_COLOURS)
            board, ink = _jitter(board, r, 10), _jitter(ink, r, 6)
        else:
            board = _random_colour(r)
            ink = _contrasting(r, board)
        if kind == "sign" and r.random() < 0.6:  # posts
            post = _random_colour(r, s=(0, 0.3), v=(0.2, 0.6))
            for px in (x0 + w * 0.2, x1 - w * 0.2):
                d.rectangle((px - w * 0.025, y1, px + w * 0.025, y1 + h * 0.9), fill=post)
        d.rounded_rectangle((x0, y0, x1, y1), radius=pad * r.uniform(0, 1.5), fill=board,
                            outline=ink if r.random() < 0.5 else None, width=max(1, int(pad * 0.3)))
        n = r.choice((1, 1, 2, 3)) if kind == "sign" else r.randint(2, 6)
        fs = min((h - 2 * pad) / (n * 1.3), (w - 2 * pad) / 3.2)
        _text_lines(cv, x0 + pad, y0 + pad, x1 - pad, y1 - pad, fs, ink,
                    align="centre" if r.random() < 0.6 else "left", max_lines=n,
                    bold=r.choice((0, 0, 1, 2)))
        colour = board
    else:  # bare words on the background
        ink = _random_colour(r)
        n = r.choice((1, 2, 3, 4))
        fs = min(h / (n * 1.25), w / 3.0)
        _text_lines(cv, x0, y0, x1, y1, fs, ink, align="centre", max_lines=n,
                    bold=r.choice((0, 0, 1, 2)))
        colour = ink
    cv.add("text", cx, cy, w, h, role)
    cv.kind = kind
    return _hue_of(colour)


# --------------------------------------------------------------------------- #
# Food
# --------------------------------------------------------------------------- #
_FRUIT = ("apple", "orange", "grapes", "banana", "strawberry", "lemon", "slice", "cookie",
          "egg", "blob", "broccoli", "tomato")


def _blob(rnd, f, x, y, rx, ry, n=12, rough=0.25):
    return f.pts([(x + rx * u * (1 + rnd.uniform(-rough, rough)),
                   y + ry * v * (1 + rnd.uniform(-rough, rough))) for u, v in _unit_circle(n)])


def _draw_fruit(cv, x, y, s, kind=None):
    """One food item of radius ``s`` pixels; returns its colour."""
    r, d = cv.r, cv.d
    kind = kind or r.choice(_FRUIT)
    f = _Frame(x, y, s, r.uniform(0, _TAU))
    if kind == "apple":
        col = r.choice(((200, 30, 30), (120, 190, 50), (230, 200, 60), (150, 20, 40)))
        col = _jitter(col, r)
        d.polygon(f.ellipse(0, 0, 1.0, 0.92, 18), fill=col)
        cv.circle(x - 0.35 * s, y - 0.35 * s, 0.2 * s, fill=_mix(col, (255, 255, 255), 0.5))
        d.line([(x, y - 0.8 * s), (x + 0.15 * s, y - 1.2 * s)], fill=(90, 60, 30), width=max(1, int(s * 0.1)))
    elif kind in ("orange", "lemon", "tomato"):
        col = {"orange": (245, 140, 20), "lemon": (245, 220, 40), "tomato": (215, 40, 30)}[kind]
        col = _jitter(col, r)
        d.polygon(f.ellipse(0, 0, 1.0, 0.8 if kind == "lemon" else 0.97, 18), fill=col)
        cv.dots(x, y, 0.7 * s, 0.6 * s, 6, _shade(col, 0.85), max(1.0, 0.05 * s))
        if kind == "tomato":
            d.polygon(f.pts([(0, -0.95), (0.35, -0.7), (0, -0.75), (-0.35, -0.7)]), fill=(40, 130, 40))
    elif kind == "grapes":
        col = r.choice(((90, 30, 90), (140, 200, 70), (60, 20, 50)))
        for i in range(r.randint(7, 13)):
            gx, gy = r.uniform(-0.6, 0.6), r.uniform(-0.7, 0.7) * (1 - 0.3 * (i % 2))
            p = f.p(gx, gy)
            cv.circle(*p, 0.3 * s, fill=_jitter(col, r, 15), outline=_shade(col, 0.6))
    elif kind == "banana":
        col = _jitter((240, 210, 50), r)
        arc = f.arc(0, -0.6, 1.1, 1.0, 0.3, math.pi - 0.3, 10)
        d.line(arc, fill=col, width=max(2, int(s * 0.45)), joint="curve")
        cv.circle(*arc[0], 0.12 * s, fill=(90, 70, 30))
    elif kind == "strawberry":
        col = _jitter((210, 25, 35), r)
        d.polygon(f.pts([(-0.85, -0.5), (0.85, -0.5), (0.6, 0.3), (0, 1.0), (-0.6, 0.3)]), fill=col)
        d.polygon(f.ellipse(0, -0.5, 0.85, 0.3, 12), fill=col)
        for _ in range(10):
            p = f.p(r.uniform(-0.6, 0.6), r.uniform(-0.4, 0.5))
            cv.circle(*p, max(1.0, 0.05 * s), fill=(245, 220, 90))
        d.polygon(f.pts([(-0.6, -0.7), (0, -0.55), (0.6, -0.7), (0, -0.95)]), fill=(50, 150, 50))
    elif kind == "slice":
        flesh, rind = r.choice((((250, 190, 60), (240, 140, 30)), ((240, 235, 120), (230, 210, 30)),
                                ((130, 190, 60), (100, 80, 50)), ((235, 60, 70), (40, 140, 50))))
        d.polygon(f.ellipse(0, 0, 1.0, 1.0, 22), fill=rind)
        d.polygon(f.ellipse(0, 0, 0.85, 0.85, 22), fill=_jitter(flesh, r, 10))
        for i in range(8):
            a = _TAU * i / 8
            d.line([f.p(0, 0), f.p(0.8 * math.cos(a), 0.8 * math.sin(a))],
                   fill=_mix(flesh, (255, 255, 255), 0.5), width=max(1, int(s * 0.05)))
        cv.dots(x, y, 0.5 * s, 0.5 * s, 7, (40, 30, 20), max(1.0, 0.05 * s))
    elif kind == "cookie":
        col = _jitter((200, 150, 90), r)
        d.polygon(_blob(r, f, 0, 0, 1.0, 1.0, 14, 0.08), fill=col)
        cv.dots(x, y, 0.7 * s, 0.7 * s, 7, (70, 40, 20), max(1.0, 0.12 * s))
    elif kind == "egg":
        d.polygon(_blob(r, f, 0, 0, 1.0, 0.85, 12, 0.2), fill=(250, 248, 240))
        cv.circle(x + 0.1 * s, y, 0.38 * s, fill=(250, 185, 30))
    elif kind == "broccoli":
        d.line([f.p(0, 0.2), f.p(0, 0.95)], fill=(150, 190, 90), width=max(2, int(0.35 * s)))
        for _ in range(6):
            p = f.p(r.uniform(-0.6, 0.6), r.uniform(-0.7, 0.1))
            cv.circle(*p, 0.38 * s, fill=_jitter((50, 120, 40), r, 15))
    else:  # irregular blob: meat, salad, cheese, bread
        col = r.choice(((120, 70, 40), (90, 160, 60), (240, 200, 90), (210, 160, 100),
                        (180, 50, 40), (240, 240, 220)))
        col = _jitter(col, r)
        d.polygon(_blob(r, f, 0, 0, 1.0, r.uniform(0.5, 1.0), 14, 0.3), fill=col)
        if r.random() < 0.5:
            cv.dots(x, y, 0.6 * s, 0.4 * s, 8, _contrasting(r, col), max(1.0, 0.06 * s))
    return col if kind not in ("egg", "slice", "broccoli") else (250, 185, 30)


@_paints("food")
def _draw_food(cv, cx, cy, rad, role):
    """A plate, bowl, pizza, cake, burger or pile of fruit centred on (cx, cy)."""
    r, d = cv.r, cv.d
    kind = r.choice(("plate", "plate", "bowl", "pizza", "fruit", "cake", "burger"))
    main_colour = None
    if kind == "plate":
        q = r.uniform(0.55, 1.0)
        plate = (_hsv(0.1, r.uniform(0, 0.1), r.uniform(0.85, 1.0)) if r.random() < 0.6
                 else _random_colour(r, s=(0.1, 0.7), v=(0.4, 1.0)))
        d.ellipse((cx - rad, cy - rad * q, cx + rad, cy + rad * q), fill=plate,
                  outline=_shade(plate, 0.8))
        d.ellipse((cx - rad * 0.75, cy - rad * q * 0.75, cx + rad * 0.75, cy + rad * q * 0.75),
                  fill=_shade(plate, 0.93))
        for _ in range(r.randint(2, 6)):
            a, u = r.random() * _TAU, r.uniform(0, 0.45)
            col = _draw_fruit(cv, cx + rad * u * math.cos(a), cy + rad * q * u * math.sin(a),
                              rad * r.uniform(0.15, 0.3))
            main_colour = main_colour or col
        w, h = 2 * rad, 2 * rad * q
    elif kind == "bowl":
        bowl = _random_colour(r, s=(0, 0.8), v=(0.3, 1.0))
        rim_y, q = cy - 0.1 * rad, r.uniform(0.2, 0.35)
        d.ellipse((cx - rad, rim_y - rad * q, cx + rad, rim_y + rad * q), fill=_shade(bowl, 0.55))
        kind_f = r.choice(_FRUIT[:6])
        for _ in range(r.randint(4, 8)):
            col = _draw_fruit(cv, cx + r.uniform(-0.65, 0.65) * rad, rim_y - r.uniform(0, 0.35) * rad,
                              rad * r.uniform(0.22, 0.32), kind_f if r.random() < 0.7 else None)
            main_colour = main_colour or col
        d.chord((cx - rad, rim_y - rad, cx + rad, rim_y + rad * 0.95), 0, 180, fill=bowl)
        d.line([(cx - rad, rim_y), (cx + rad, rim_y)], fill=_shade(bowl, 1.2), width=max(1, int(rad * 0.04)))
        w, h = 2 * rad, 1.4 * rad
    elif kind == "pizza":
        f = _Frame(cx, cy, rad, r.uniform(0, _TAU))
        gap = r.uniform(0.0, 1.2)
        circle = f.arc(0, 0, 1, 1, gap, _TAU, 28)
        d.polygon(circle + ([f.p(0, 0)] if gap > 0.1 else []), fill=(215, 160, 80))
        inner = f.arc(0, 0, 0.86, 0.86, gap + 0.05, _TAU - 0.05, 28)
        sauce = _jitter((200, 60, 30), r)
        d.polygon(inner + ([f.p(0.08, 0.04)] if gap > 0.1 else []), fill=sauce)
        cheese = _jitter((245, 210, 110), r)
        topping = r.choice(((170, 30, 30), (30, 30, 30), (60, 140, 50), (140, 90, 60)))
        for _ in range(r.randint(5, 10)):
            a, u = r.uniform(gap + 0.2, _TAU - 0.2), r.uniform(0.2, 0.7)
            p = f.p(u * math.cos(a), u * math.sin(a))
            cv.circle(*p, rad * r.uniform(0.08, 0.17), fill=cheese if r.random() < 0.5 else topping)
        main_colour = sauce
        w = h = 2 * rad
    elif kind == "fruit":
        for _ in range(r.randint(3, 7)):
            col = _draw_fruit(cv, cx + r.uniform(-0.6, 0.6) * rad, cy + r.uniform(-0.5, 0.5) * rad,
                              rad * r.uniform(0.25, 0.4))
            main_colour = main_colour or col
        w, h = 2 * rad, 1.8 * rad
    elif kind == "cake":
        body = _random_colour(r, s=(0.1, 0.7), v=(0.5, 1.0))
        icing = _random_colour(r, s=(0.0, 0.6), v=(0.7, 1.0))
        top_q = r.uniform(0.2, 0.4)
        x0, x1, yt, yb = cx - rad * 0.9, cx + rad * 0.9, cy - rad * 0.35, cy + rad * 0.55
        d.ellipse((x0, yb - rad * top_q, x1, yb + rad * top_q), fill=_shade(body, 0.8))
        d.rectangle((x0, yt, x1, yb), fill=body)
        for i in range(1, r.randint(2, 4)):
            yy = yt + (yb - yt) * i / 4
            d.line([(x0, yy), (x1, yy)], fill=icing, width=max(1, int(rad * 0.06)))
        d.ellipse((x0, yt - rad * top_q, x1, yt + rad * top_q), fill=icing)
        for i in range(7):
            xx = x0 + (x1 - x0) * (i + 0.5) / 7
            d.chord((xx - rad * 0.13, yt - rad * 0.13, xx + rad * 0.13, yt + rad * 0.15), 0, 180,
                    fill=icing)
        if r.random() < 0.6:
            cv.circle(cx, yt - rad * top_q * 0.8, rad * 0.14, fill=(200, 20, 40))
        main_colour = body
        w, h = 1.8 * rad, 1.6 * rad
    else:  # burger
        bun = _jitter((215, 150, 70), r)
        x0, x1 = cx - rad * 0.9, cx + rad * 0.9
        y = cy + rad * 0.55
        d.rounded_rectangle((x0, y - rad * 0.25, x1, y), radius=rad * 0.1, fill=bun)
        y -= rad * 0.22
        for col, th in (((110, 60, 30), 0.22), ((245, 200, 40), 0.08), ((210, 40, 30), 0.09),
                        ((80, 170, 50), 0.1)):
            if r.random() < 0.8:
                xs = [x0 - rad * 0.05 + i * (x1 - x0 + rad * 0.1) / 10 for i in range(11)]
                wave = [(xx, y - rad * th + r.uniform(-0.04, 0.04) * rad) for xx in xs]
                d.polygon(wave + [(x1 + rad * 0.05, y), (x0 - rad * 0.05, y)], fill=_jitter(col, r))
                y -= rad * th * 0.9
        d.chord((x0, y - rad * 0.6, x1, y + rad * 0.55), 180, 360, fill=bun)
        cv.dots(cx, y - rad * 0.25, rad * 0.6, rad * 0.15, 9, (250, 240, 200), max(1.0, rad * 0.03))
        main_colour = bun
        w, h = 1.8 * rad, 1.4 * rad
    cv.add("food", cx, cy, w, h, role)
    cv.kind = kind
    return _hue_of(main_colour or (200, 100, 50))


# --------------------------------------------------------------------------- #
# Man-made objects
# --------------------------------------------------------------------------- #
_OBJECTS = ("mug", "ball", "box", "car", "tool", "bottle", "clock", "phone", "chair", "lamp",
            "bicycle", "umbrella")


@_paints("object")
def _draw_object(cv, cx, cy, rad, role, kind=None):
    """A man-made object (mug, ball, box, car, ...) of half size ``rad`` pixels."""
    r, d = cv.r, cv.d
    kind = kind or r.choice(_OBJECTS)
    col = _random_colour(r, s=(0.0, 1.0), v=(0.2, 1.0))
    dark, light = _shade(col, 0.6), _mix(col, (255, 255, 255), 0.35)
    metal = _hsv(0.6, r.uniform(0, 0.1), r.uniform(0.45, 0.8))
    f = _Frame(cx, cy, rad, r.uniform(-0.3, 0.3))
    w, h = 2 * rad, 2 * rad
    label = None
    if kind == "mug":
        d.line(f.arc(0.45, 0.0, 0.4, 0.35, -1.4, 1.4, 8), fill=dark, width=f.w(0.14))
        d.polygon(f.pts([(-0.55, -0.55), (0.5, -0.55), (0.47, 0.55), (-0.52, 0.55)]), fill=col)
        d.polygon(f.ellipse(-0.025, 0.55, 0.5, 0.1, 14), fill=col)
        d.polygon(f.ellipse(-0.025, -0.55, 0.525, 0.12, 16), fill=_shade(col, 0.45))
        label = (-0.35, -0.25, 0.3, 0.25)
        w, h = 1.9 * rad, 1.3 * rad
    elif kind == "ball":
        cv.circle(cx, cy, rad * 0.9, fill=col)
        style = r.random()
        if style < 0.35:  # beach ball segments
            c2 = _random_colour(r)
            for i in range(0, 6, 2):
                d.pieslice((cx - rad * 0.9, cy - rad * 0.9, cx + rad * 0.9, cy + rad * 0.9),
                           60 * i, 60 * i + 60, fill=c2)
        elif style < 0.6:  # seams
            seam = max(1, int(rad * 0.06))
            d.ellipse((cx - rad * 0.45, cy - rad * 0.9, cx + rad * 0.45, cy + rad * 0.9), outline=dark,
                      width=seam)
            d.line([(cx - rad * 0.9, cy), (cx + rad * 0.9, cy)], fill=dark, width=seam)
            d.line([(cx, cy - rad * 0.9), (cx, cy + rad * 0.9)], fill=dark, width=seam)
        elif style < 0.8:  # football patches
            for i in range(5):
                a = _TAU * i / 5 + 0.3
                cv.circle(cx + 0.6 * rad * math.cos(a), cy + 0.6 * rad * math.sin(a), 0.18 * rad,
                          fill=dark)
            cv.circle(cx, cy, 0.2 * rad, fill=dark)
        cv.circle(cx - 0.35 * rad, cy - 0.35 * rad, 0.15 * rad, fill=light)
        w = h = 1.8 * rad
    elif kind == "box":
        s, dx, dy = 0.6, r.uniform(0.2, 0.45), r.uniform(0.2, 0.4)
        front = [(-s - dx / 2, -s + dy / 2), (s - dx / 2, -s + dy / 2), (s - dx / 2, s + dy / 2),
                 (-s - dx / 2, s + dy / 2)]
        top = [front[0], front[1], (front[1][0] + dx, front[1][1] - dy),
               (front[0][0] + dx, front[0][1] - dy)]
        side = [front[1], (front[1][0] + dx, front[1][1] - dy), (front[2][0] + dx, front[2][1] - dy),
                front[2]]
        d.polygon(f.pts(front), fill=col, outline=dark)
        d.polygon(f.pts(top), fill=light, outline=dark)
        d.polygon(f.pts(side), fill=dark, outline=dark)
        if r.random() < 0.5:
            d.line(f.pts([(-dx / 2, -s + dy / 2), (-dx / 2, s + dy / 2)]), fill=_contrasting(r, col),
                   width=f.w(0.08))
        label = (-0.45 - dx / 2, -0.1, 0.45 - dx / 2, 0.4)
    elif kind == "car":
        flip = r.choice((-1, 1))
        body = [(-1, 0.05), (1, 0.05), (1, 0.4), (-1, 0.4)]
        cabin = [(-0.6, 0.07), (-0.4, -0.4), (0.35, -0.4), (0.65, 0.07)]
        body = [(flip * x, y) for x, y in body]
        cabin = [(flip * x, y) for x, y in cabin]
        d.polygon(f.pts(cabin), fill=col)
        win = _hsv(0.58, r.uniform(0.1, 0.4), r.uniform(0.5, 0.9))
        d.polygon(f.pts([(flip * x * 0.85, y * 0.8 + 0.02) for x, y in cabin]), fill=win)
        d.line(f.pts([(0, -0.35), (0, 0.06)]), fill=col, width=f.w(0.07))
        d.polygon(f.pts(body), fill=col)
        cv.circle(*f.p(flip * 0.95, 0.15), 0.06 * rad, fill=(250, 240, 180))
        for wx in (-0.6, 0.6):
            p = f.p(wx, 0.42)
            cv.circle(*p, 0.24 * rad, fill=(25, 25, 25))
            cv.circle(*p, 0.11 * rad, fill=metal)
        label = (-0.3, 0.12, 0.3, 0.35) if r.random() < 0.3 else None
        w, h = 2 * rad, 1.3 * rad
    elif kind == "tool":
        f = _Frame(cx, cy, rad, r.uniform(0, _TAU))
        handle = r.choice(((150, 100, 50), col, (30, 30, 30)))
        sub = r.random()
        d.polygon(f.pts([(-0.1, -0.3), (0.1, -0.3), (0.12, 1.0), (-0.12, 1.0)]), fill=handle)
        if sub < 0.4:  # hammer
            d.polygon(f.pts([(-0.55, -0.6), (0.5, -0.6), (0.5, -0.25), (-0.55, -0.25)]), fill=metal)
            d.polygon(f.pts([(0.5, -0.55), (0.75, -0.65), (0.75, -0.2), (0.5, -0.3)]), fill=metal)
        elif sub < 0.7:  # wrench
            d.polygon(f.pts([(-0.07, -0.3), (0.07, -0.3), (0.07, -0.7), (-0.07, -0.7)]), fill=metal)
            d.polygon(f.ellipse(0, -0.85, 0.28, 0.28, 14), fill=metal)
            d.polygon(f.pts([(-0.1, -1.15), (0.1, -1.15), (0.1, -0.85), (-0.1, -0.85)]),
                      fill=_background_like(cv, f.p(0, -1.2)))
        else:  # screwdriver
            d.line(f.pts([(0, -0.3), (0, -1.0)]), fill=metal, width=f.w(0.08))
            d.polygon(f.pts([(-0.14, -0.3), (0.14, -0.3), (0.12, 0.3), (-0.12, 0.3)]), fill=col)
        w, h = 1.0 * rad, 2.0 * rad
    elif kind == "bottle":
        d.polygon(f.pts([(-0.35, -0.2), (0.35, -0.2), (0.35, 0.95), (-0.35, 0.95)]), fill=col)
        d.polygon(f.pts([(-0.35, -0.2), (-0.12, -0.55), (0.12, -0.55), (0.35, -0.2)]), fill=col)
        d.polygon(f.pts([(-0.12, -0.55), (0.12, -0.55), (0.12, -0.85), (-0.12, -0.85)]), fill=col)
        d.polygon(f.pts([(-0.14, -0.85), (0.14, -0.85), (0.14, -1.0), (-0.14, -1.0)]),
                  fill=_random_colour(r))
        d.line(f.pts([(-0.22, -0.1), (-0.22, 0.85)]), fill=light, width=f.w(0.06))
        label = (-0.33, 0.15, 0.33, 0.6)
        w, h = 0.75 * rad, 2.0 * rad
    elif kind == "clock":
        cv.circle(cx, cy, rad * 0.95, fill=col)
        face = _hsv(0.1, r.uniform(0, 0.1), r.uniform(0.85, 1.0))
        cv.circle(cx, cy, rad * 0.8, fill=face)
        ink = (20, 20, 20)
        for i in range(12):
            a = _TAU * i / 12
            d.line([(cx + 0.65 * rad * math.cos(a), cy + 0.65 * rad * math.sin(a)),
                    (cx + 0.75 * rad * math.cos(a), cy + 0.75 * rad * math.sin(a))], fill=ink,
                   width=max(1, int(rad * 0.05)))
        for length, width in ((0.4, 0.08), (0.62, 0.05)):
            a = r.uniform(0, _TAU)
            d.line([(cx, cy), (cx + length * rad * math.cos(a), cy + length * rad * math.sin(a))],
                   fill=ink, width=max(1, int(rad * width)))
        w = h = 1.9 * rad
    elif kind == "phone":
        d.rounded_rectangle((cx - 0.5 * rad, cy - 0.95 * rad, cx + 0.5 * rad, cy + 0.95 * rad),
                            radius=0.12 * rad, fill=_shade(col, 0.3))
        screen = _random_colour(r, v=(0.3, 1.0))
        d.rectangle((cx - 0.42 * rad, cy - 0.8 * rad, cx + 0.42 * rad, cy + 0.75 * rad), fill=screen)
        for i in range(3):
            for j in range(4):
                x0 = cx - 0.36 * rad + i * 0.26 * rad
                y0 = cy - 0.7 * rad + j * 0.3 * rad
                d.rounded_rectangle((x0, y0, x0 + 0.18 * rad, y0 + 0.18 * rad), radius=0.04 * rad,
                                    fill=_random_colour(r))
        w, h = 1.0 * rad, 1.9 * rad
    elif kind == "chair":
        leg = max(1, int(0.08 * rad))
        d.polygon(f.pts([(-0.5, -0.1), (0.5, -0.1), (0.65, 0.1), (-0.35, 0.1)]), fill=col)
        d.polygon(f.pts([(-0.5, -0.95), (-0.35, -0.95), (-0.35, -0.1), (-0.5, -0.1)]), fill=col)
        d.polygon(f.pts([(-0.5, -0.95), (0.4, -0.95), (0.4, -0.75), (-0.5, -0.75)]), fill=dark)
        for x0, x1 in ((-0.45, -0.45), (0.6, 0.6), (-0.3, -0.3), (0.45, 0.45)):
            d.line(f.pts([(x0, 0.1), (x1, 0.95)]), fill=dark, width=leg)
        w, h = 1.3 * rad, 1.9 * rad
    elif kind == "lamp":
        d.polygon(f.ellipse(0, 0.9, 0.45, 0.12, 14), fill=dark)
        d.line(f.pts([(0, 0.9), (0.2, 0.0), (-0.2, -0.5)]), fill=metal, width=f.w(0.07),
               joint="curve")
        d.polygon(f.pts([(-0.55, -0.25), (-0.05, -0.75), (0.2, -0.5), (-0.3, 0.0)]), fill=col)
        cv.circle(*f.p(-0.25, -0.05), 0.1 * rad, fill=(255, 250, 200))
        w, h = 1.1 * rad, 1.9 * rad
    elif kind == "bicycle":
        ww = max(1, int(0.07 * rad))
        for wx in (-0.6, 0.6):
            p = f.p(wx, 0.35)
            cv.circle(*p, 0.42 * rad, outline=(25, 25, 25), width=ww)
        d.line(f.pts([(-0.6, 0.35), (-0.1, 0.35), (0.3, -0.2), (-0.25, -0.2), (-0.1, 0.35)]),
               fill=col, width=ww, joint="curve")
        d.line(f.pts([(0.6, 0.35), (0.3, -0.2), (0.25, -0.45)]), fill=col, width=ww)
        d.line(f.pts([(-0.6, 0.35), (-0.25, -0.2)]), fill=col, width=ww)
        d.line(f.pts([(-0.35, -0.32), (-0.1, -0.32)]), fill=(30, 30, 30), width=ww * 2)
        w, h = 2.0 * rad, 1.4 * rad
    else:  # umbrella
        d.pieslice(_bbox(f.p(0, 0), 0.95 * rad), 180, 360, fill=col)
        for i in range(1, 4):
            d.line([f.p(0, -0.02), f.p(0.95 * math.cos(math.pi + math.pi * i / 4),
                                       0.95 * math.sin(math.pi + math.pi * i / 4))],
                   fill=dark, width=max(1, int(0.03 * rad)))
        d.line(f.pts([(0, 0), (0, 0.8)]), fill=(40, 40, 40), width=f.w(0.05))
        d.line(f.arc(0.12, 0.8, 0.12, 0.12, 0, math.pi, 6), fill=(40, 40, 40), width=f.w(0.05))
        w, h = 1.9 * rad, 1.8 * rad
    if label is not None and r.random() < 0.35:
        lx0, ly0 = f.p(label[0], label[1])
        lx1, ly1 = f.p(label[2], label[3])
        if abs(lx1 - lx0) > 0.06 * cv.size:
            paper = _contrasting(r, col)
            x0, x1 = sorted((lx0, lx1))
            y0, y1 = sorted((ly0, ly1))
            d.rectangle((x0, y0, x1, y1), fill=paper)
            _text_lines(cv, x0 + 1, y0 + 1, x1 - 1, y1 - 1, (y1 - y0) * 0.45, _contrasting(r, paper),
                        align="centre", max_lines=2)
            cv.add("text", (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, "secondary")
    cv.add("object", cx, cy, w, h, role)
    cv.kind = kind
    return _hue_of(col)


def _bbox(p, rad):
    return (p[0] - rad, p[1] - rad, p[0] + rad, p[1] + rad)


def _background_like(cv, p):
    x = min(max(int(p[0]), 0), cv.size - 1)
    y = min(max(int(p[1]), 0), cv.size - 1)
    return cv.img.getpixel((x, y))


# --------------------------------------------------------------------------- #
# Scenes
# --------------------------------------------------------------------------- #
def _sky(time_of_day, rnd):
    """Top and horizon colours of the sky, plus (sun, cloud) colours."""
    j = rnd.uniform(-0.04, 0.04)
    if time_of_day == "day":
        top = _hsv(0.58 + j, rnd.uniform(0.45, 0.9), rnd.uniform(0.55, 0.95))
        low = _hsv(0.55 + j, rnd.uniform(0.1, 0.35), rnd.uniform(0.85, 1.0))
        return top, low, (255, 250, 220), (250, 250, 250)
    if time_of_day == "sunset":
        top = _hsv(rnd.uniform(0.62, 0.8), rnd.uniform(0.3, 0.7), rnd.uniform(0.3, 0.6))
        low = _hsv(rnd.uniform(0.0, 0.12), rnd.uniform(0.5, 0.9), rnd.uniform(0.8, 1.0))
        return top, low, (255, 200, 120), _hsv(0.95 + j, 0.3, 0.85)
    if time_of_day == "overcast":
        g = rnd.uniform(0.45, 0.85)
        return (_hsv(0.6, 0.05, g * 0.9), _hsv(0.6, 0.03, g), (230, 230, 230),
                _hsv(0.6, 0.03, g * 1.1))
    if time_of_day == "night":
        return (_hsv(0.65 + j, 0.6, rnd.uniform(0.03, 0.12)),
                _hsv(0.63 + j, 0.5, rnd.uniform(0.12, 0.3)), (245, 245, 220), (70, 70, 90))
    return (_hsv(0.6 + j, 0.3, 0.7), _hsv(0.08 + j, 0.35, 0.95), (255, 230, 200), (250, 230, 230))


def _sky_image(size, top, low, horizon):
    rows = np.clip((np.arange(size, dtype=np.float32) / max(horizon, 1.0)), 0, 1)[:, None]
    col = np.asarray(top, np.float32) + (np.asarray(low, np.float32)
                                         - np.asarray(top, np.float32)) * rows
    col = col.astype(np.uint8)[:, None, :]
    return Image.fromarray(col, mode="RGB").resize((size, size), Image.NEAREST)


def _tree(cv, x, base_y, height, season):
    r, d = cv.r, cv.d
    trunk = _jitter((90, 60, 35), r, 15)
    if r.random() < 0.35:  # conifer
        green = _jitter((30, 90, 45), r, 15) if season != "snow" else (40, 80, 60)
        d.rectangle((x - height * 0.04, base_y - height * 0.2, x + height * 0.04, base_y), fill=trunk)
        for i in range(3):
            y0 = base_y - height * (0.15 + 0.27 * i)
            wdt = height * (0.32 - 0.08 * i)
            d.polygon([(x - wdt, y0), (x + wdt, y0), (x, y0 - height * 0.45)], fill=green)
        return
    d.rectangle((x - height * 0.05, base_y - height * 0.55, x + height * 0.05, base_y), fill=trunk)
    if season == "winter":
        for _ in range(4):
            a = r.uniform(-1.2, 1.2)
            y0 = base_y - height * r.uniform(0.4, 0.6)
            d.line([(x, y0), (x + math.sin(a) * height * 0.35, y0 - math.cos(a) * height * 0.35)],
                   fill=trunk, width=max(1, int(height * 0.03)))
        return
    base = {"summer": (50, 130, 40), "autumn": r.choice(((200, 110, 30), (190, 60, 30),
                                                         (220, 170, 40)))}[season]
    for _ in range(r.randint(3, 6)):
        cv.circle(x + r.uniform(-0.2, 0.2) * height, base_y - height * r.uniform(0.55, 0.85),
                  height * r.uniform(0.15, 0.25), fill=_jitter(base, r, 20))


def _draw_outdoor(cv):
    """A landscape or street scene covering the whole canvas; returns (hue, subtype, mask poly)."""
    r, d, S = cv.r, cv.d, cv.size
    subtype = r.choice(("countryside", "mountains", "beach", "city", "forest", "snow", "desert",
                        "lake"))
    time_of_day = r.choices(("day", "sunset", "overcast", "night", "dawn"),
                            weights=(0.45, 0.18, 0.17, 0.12, 0.08))[0]
    top, low, sun_col, cloud_col = _sky(time_of_day, r)
    horizon = S * r.uniform(0.3, 0.68)
    tilt = S * r.uniform(-0.06, 0.06)
    cv.img.paste(_sky_image(S, top, low, horizon))
    night = time_of_day == "night"
    if night:
        stars = [(r.uniform(0, S), r.uniform(0, horizon)) for _ in range(r.randint(10, 60))]
        d.point(stars, fill=(240, 240, 230))
    if time_of_day != "overcast" and r.random() < 0.6:
        sx, sy = r.uniform(0.1, 0.9) * S, horizon * r.uniform(0.2, 0.9)
        sr = S * r.uniform(0.025, 0.07)
        cv.circle(sx, sy, sr * 1.6, fill=_mix(sun_col, low, 0.6))
        cv.circle(sx, sy, sr, fill=sun_col)
    for _ in range(r.choice((0, 1, 2, 3, 4)) if not night else 0):
        x, y, s = r.uniform(0, S), horizon * r.uniform(0.1, 0.8), S * r.uniform(0.04, 0.1)
        for _ in range(r.randint(3, 6)):
            d.ellipse((x - s * r.uniform(0.8, 1.6), y - s * r.uniform(0.4, 0.8),
                       x + s * r.uniform(0.8, 1.6), y + s * r.uniform(0.3, 0.5)), fill=cloud_col)
            x += s * r.uniform(-0.8, 0.8)
    darkness = {"night": 0.35, "sunset": 0.75, "overcast": 0.85, "dawn": 0.85}.get(time_of_day, 1.0)

    def lit(colour):
        return _shade(colour, darkness * r.uniform(0.85, 1.1))

    if subtype in ("mountains", "snow") or r.random() < 0.25:
        for layer in range(r.randint(1, 3)):
            n = r.randint(4, 9)
            xs = [S * (i / n) + r.uniform(-0.05, 0.05) * S for i in range(n + 1)]
            peak = S * r.uniform(0.12, 0.35) / (1 + 0.4 * layer) * (1 if layer else 1.3)
            base = horizon + tilt * 0.0 + S * 0.01
            ridge = [(x, base - peak * r.uniform(0.25, 1.0)) for x in xs]
            rock = _mix(lit(_hsv(r.uniform(0.55, 0.7), r.uniform(0.1, 0.4), r.uniform(0.3, 0.6))),
                        low, 0.55 - 0.2 * layer)
            d.polygon([(0, base)] + ridge + [(S, base)], fill=rock)
            if subtype == "snow" or r.random() < 0.5:
                for x, y in ridge:
                    if base - y > peak * 0.7:
                        dh = (base - y) * 0.25
                        d.polygon([(x, y), (x + dh * 0.7, y + dh), (x - dh * 0.7, y + dh)],
                                  fill=lit((245, 245, 250)))
    ground_col = {
        "countryside": _hsv(r.uniform(0.18, 0.33), r.uniform(0.4, 0.8), r.uniform(0.35, 0.7)),
        "mountains": _hsv(r.uniform(0.15, 0.35), r.uniform(0.3, 0.7), r.uniform(0.25, 0.55)),
        "beach": _hsv(r.uniform(0.1, 0.14), r.uniform(0.25, 0.5), r.uniform(0.75, 0.95)),
        "city": _hsv(0.6, r.uniform(0, 0.1), r.uniform(0.3, 0.6)),
        "forest": _hsv(r.uniform(0.2, 0.35), r.uniform(0.4, 0.8), r.uniform(0.2, 0.45)),
        "snow": _hsv(0.6, r.uniform(0.0, 0.1), r.uniform(0.85, 1.0)),
        "desert": _hsv(r.uniform(0.06, 0.1), r.uniform(0.4, 0.7), r.uniform(0.6, 0.9)),
        "lake": _hsv(r.uniform(0.2, 0.33), r.uniform(0.4, 0.8), r.uniform(0.3, 0.6)),
    }[subtype]
    ground_col = lit(ground_col)
    ground = [(0, horizon - tilt), (S, horizon + tilt), (S, S), (0, S)]
    if subtype == "city":
        for _ in range(r.randint(4, 10)):
            bx, bw = r.uniform(-0.1, 1.0) * S, S * r.uniform(0.08, 0.22)
            bh = S * r.uniform(0.1, 0.45)
            wall = lit(_random_colour(r, s=(0, 0.4), v=(0.35, 0.85)))
            d.rectangle((bx, horizon - bh, bx + bw, horizon + S * 0.05), fill=wall)
            win = (250, 220, 120) if night else _mix(wall, low, 0.5)
            nx, ny = max(1, int(bw / (S * 0.035))), max(1, int(bh / (S * 0.05)))
            for i in range(min(nx, 5)):
                for j in range(min(ny, 6)):
                    if night and r.random() < 0.4:
                        continue
                    wx, wy = bx + bw * (i + 0.25) / nx, horizon - bh + bh * (j + 0.2) / ny
                    d.rectangle((wx, wy, wx + bw * 0.5 / nx, wy + bh * 0.45 / ny), fill=win)
    d.polygon(ground, fill=ground_col)
    texture_poly = ground
    if subtype in ("beach", "lake"):
        water = _mix(_hsv(r.uniform(0.5, 0.6), r.uniform(0.4, 0.8), r.uniform(0.4, 0.8)), top, 0.3)
        shore = horizon + S * r.uniform(0.08, 0.35)
        water_poly = [(0, horizon - tilt), (S, horizon + tilt), (S, shore + r.uniform(-0.1, 0.1) * S),
                      (0, shore)]
        d.polygon(water_poly, fill=lit(water))
        for _ in range(r.randint(5, 20)):
            y = r.uniform(horizon, shore)
            x = r.uniform(0, S)
            d.line([(x, y), (x + S * r.uniform(0.02, 0.1), y)], fill=lit(_mix(water, (255, 255, 255), 0.4)),
                   width=max(1, int(S * 0.005)))
        texture_poly = water_poly
    if subtype in ("city", "countryside", "desert") and r.random() < 0.7:
        vx = r.uniform(0.3, 0.7) * S
        bl, br = r.uniform(-0.3, 0.3) * S, r.uniform(0.7, 1.3) * S
        road = _hsv(0.6, 0.05, r.uniform(0.2, 0.5) * darkness)
        d.polygon([(vx - S * 0.01, horizon), (vx + S * 0.01, horizon), (br, S), (bl, S)], fill=road)
        for i in range(6):
            t0, t1 = (i + 0.2) / 6, (i + 0.55) / 6
            t0, t1 = t0 * t0, t1 * t1
            y0, y1 = horizon + (S - horizon) * t0, horizon + (S - horizon) * t1
            x0, x1 = vx + ((bl + br) / 2 - vx) * t0, vx + ((bl + br) / 2 - vx) * t1
            d.line([(x0, y0), (x1, y1)], fill=(240, 230, 200), width=max(1, int(S * 0.012 * (t0 + 0.1))))
        if r.random() < 0.35:  # a car on the road
            t = r.uniform(0.3, 0.8)
            y = horizon + (S - horizon) * t
            _draw_object(cv, vx + ((bl + br) / 2 - vx) * t + r.uniform(-0.1, 0.1) * S,
                         y - S * 0.04 * t, S * 0.12 * t + 2, "secondary", kind="car")
    season = {"snow": "winter", "desert": None}.get(subtype, r.choice(("summer", "summer", "autumn")))
    n_trees = {"forest": r.randint(8, 18), "desert": 0, "city": r.randint(0, 3)}.get(
        subtype, r.randint(0, 6))
    if season is not None and n_trees:
        for _ in range(n_trees):
            by = r.uniform(horizon + 0.01 * S, S * 1.05)
            depth = (by - horizon) / max(S - horizon, 1.0)
            _tree(cv, r.uniform(-0.05, 1.05) * S, by, S * (0.08 + 0.5 * depth) * r.uniform(0.7, 1.3),
                  season)
    if subtype == "countryside" and r.random() < 0.5:  # a house
        hx, hy, hw = r.uniform(0.1, 0.8) * S, horizon + r.uniform(0.02, 0.15) * S, S * r.uniform(0.1, 0.25)
        wall = lit(_random_colour(r, s=(0, 0.4), v=(0.5, 1.0)))
        d.rectangle((hx, hy - hw * 0.6, hx + hw, hy), fill=wall)
        d.polygon([(hx - hw * 0.1, hy - hw * 0.6), (hx + hw * 1.1, hy - hw * 0.6),
                   (hx + hw * 0.5, hy - hw * 1.05)], fill=lit(_random_colour(r, v=(0.2, 0.6))))
        d.rectangle((hx + hw * 0.4, hy - hw * 0.35, hx + hw * 0.6, hy), fill=_shade(wall, 0.5))
    if r.random() < 0.25:  # people in the scene
        for _ in range(r.randint(1, 3)):
            by = r.uniform(horizon + 0.05 * S, S * 0.95)
            depth = (by - horizon) / max(S - horizon, 1.0)
            hh = S * (0.05 + 0.3 * depth)
            _draw_body(cv, r.uniform(0.05, 0.95) * S, by - hh / 2, hh / 2, "secondary")
    if r.random() < 0.12:  # a road sign
        sx, sy = r.uniform(0.15, 0.85) * S, horizon + r.uniform(-0.1, 0.1) * S
        _draw_text(cv, sx, sy, S * r.uniform(0.06, 0.12), "secondary", kind="sign")
    cv.add("outdoor", S / 2, S / 2, S, S, "main")
    return _hue_of(top), subtype, texture_poly


def _draw_indoor(cv):
    """A room in perspective covering the whole canvas; returns (hue, subtype, mask poly)."""
    r, d, S = cv.r, cv.d, cv.size
    subtype = r.choice(("living_room", "kitchen", "bedroom", "office", "corridor"))
    vx, vy = S * r.uniform(0.3, 0.7), S * r.uniform(0.3, 0.6)
    k = r.uniform(0.15, 0.3) if subtype == "corridor" else r.uniform(0.3, 0.6)
    bx0, bx1, by0, by1 = vx - k * vx, vx + k * (S - vx), vy - k * vy, vy + k * (S - vy)
    wall = (_hsv(r.uniform(0.05, 0.15), r.uniform(0.05, 0.3), r.uniform(0.55, 0.95))
            if r.random() < 0.5 else _random_colour(r, s=(0.05, 0.75), v=(0.3, 0.95)))
    light = r.uniform(0.7, 1.15)
    left, right = _shade(wall, light * r.uniform(0.75, 0.9)), _shade(wall, r.uniform(0.75, 1.0) / light)
    ceiling = _mix(wall, (250, 250, 250), r.uniform(0.3, 0.9))
    floor_kind = r.choice(("wood", "tile", "carpet"))
    floor = {"wood": _hsv(r.uniform(0.05, 0.11), r.uniform(0.35, 0.75), r.uniform(0.3, 0.75)),
             "tile": _random_colour(r, s=(0, 0.3), v=(0.4, 0.95)),
             "carpet": _random_colour(r, s=(0.1, 0.7), v=(0.2, 0.7))}[floor_kind]
    d.rectangle((0, 0, S, S), fill=wall)
    d.polygon([(0, 0), (S, 0), (bx1, by0), (bx0, by0)], fill=ceiling)
    d.polygon([(0, 0), (bx0, by0), (bx0, by1), (0, S)], fill=left)
    d.polygon([(S, 0), (S, S), (bx1, by1), (bx1, by0)], fill=right)
    floor_poly = [(0, S), (bx0, by1), (bx1, by1), (S, S)]
    d.polygon(floor_poly, fill=floor)
    edge = _shade(wall, 0.7)
    for a, b in (((0, 0), (bx0, by0)), ((S, 0), (bx1, by0)), ((0, S), (bx0, by1)), ((S, S), (bx1, by1))):
        d.line([a, b], fill=edge, width=max(1, int(S * 0.006)))
    if floor_kind in ("wood", "tile"):
        lc = _shade(floor, 0.75)
        for i in range(1, 9):
            xb = S * (i / 9) * 1.6 - 0.3 * S
            d.line([(xb, S), (vx + (xb - vx) * k, by1)], fill=lc, width=1)
        if floor_kind == "tile":
            for j in range(1, 6):
                t = (j / 6) ** 1.8
                y = by1 + (S - by1) * t
                d.line([(vx + (0 - vx) * (k + (1 - k) * t), y), (vx + (S - vx) * (k + (1 - k) * t), y)],
                       fill=lc, width=1)
    texture_poly = [(bx0, by0), (bx1, by0), (bx1, by1), (bx0, by1)] if r.random() < 0.6 else floor_poly

    def side_quad(side, t0, t1, h0, h1):
        """Quadrilateral on a side wall between depths t0..t1 and heights h0..h1 (0 top)."""
        ex = 0 if side < 0 else S
        wx = bx0 if side < 0 else bx1
        pts = []
        for t, h in ((t0, h0), (t1, h0), (t1, h1), (t0, h1)):
            top = (ex + (wx - ex) * t, 0 + (by0 - 0) * t)
            bot = (ex + (wx - ex) * t, S + (by1 - S) * t)
            pts.append((top[0], top[1] + (bot[1] - top[1]) * h))
        return pts

    bw, bh = bx1 - bx0, by1 - by0
    if r.random() < 0.65:  # window
        sky = {0: (140, 190, 240), 1: (20, 25, 60), 2: (250, 170, 100), 3: (200, 205, 210)}[
            r.choice((0, 0, 1, 2, 3))]
        frame = _random_colour(r, s=(0, 0.4), v=(0.3, 1.0))
        if r.random() < 0.5:
            wx0, wy0 = bx0 + bw * r.uniform(0.1, 0.5), by0 + bh * r.uniform(0.1, 0.25)
            wx1, wy1 = wx0 + bw * r.uniform(0.2, 0.4), wy0 + bh * r.uniform(0.3, 0.5)
            d.rectangle((wx0, wy0, wx1, wy1), fill=sky, outline=frame, width=max(1, int(S * 0.012)))
            d.line([((wx0 + wx1) / 2, wy0), ((wx0 + wx1) / 2, wy1)], fill=frame, width=max(1, int(S * 0.008)))
            d.line([(wx0, (wy0 + wy1) / 2), (wx1, (wy0 + wy1) / 2)], fill=frame, width=max(1, int(S * 0.008)))
        else:
            q = side_quad(r.choice((-1, 1)), r.uniform(0.1, 0.4), r.uniform(0.5, 0.8), 0.2, 0.55)
            d.polygon(q, fill=sky, outline=frame, width=max(1, int(S * 0.012)))
            d.line([((q[0][0] + q[1][0]) / 2, (q[0][1] + q[1][1]) / 2),
                    ((q[2][0] + q[3][0]) / 2, (q[2][1] + q[3][1]) / 2)], fill=frame,
                   width=max(1, int(S * 0.008)))
    if r.random() < 0.45 or subtype == "corridor":  # doors
        door = _random_colour(r, s=(0.1, 0.6), v=(0.2, 0.7))
        if subtype == "corridor" or r.random() < 0.5:
            for side in (-1, 1):
                if r.random() < 0.8:
                    t0 = r.uniform(0.2, 0.6)
                    d.polygon(side_quad(side, t0, t0 + 0.2, 0.3, 1.0), fill=door, outline=_shade(door, 0.6))
        else:
            dx0 = bx0 + bw * r.uniform(0.05, 0.7)
            d.rectangle((dx0, by1 - bh * 0.75, dx0 + bw * 0.22, by1), fill=door,
                        outline=_shade(door, 0.6), width=max(1, int(S * 0.006)))
            cv.circle(dx0 + bw * 0.18, by1 - bh * 0.38, S * 0.008, fill=(220, 200, 120))
    for _ in range(r.choice((0, 0, 1, 2))):  # pictures and posters on the back wall
        px0, py0 = bx0 + bw * r.uniform(0.05, 0.7), by0 + bh * r.uniform(0.1, 0.35)
        pw, ph = bw * r.uniform(0.12, 0.28), bh * r.uniform(0.15, 0.3)
        what = r.random()
        if what < 0.2:
            _draw_text(cv, px0 + pw / 2, py0 + ph / 2, math.sqrt(pw * ph) / 2, "secondary",
                       kind="poster")
            continue
        frame = _random_colour(r, v=(0.1, 0.8))
        d.rectangle((px0, py0, px0 + pw, py0 + ph), fill=_random_colour(r), outline=frame,
                    width=max(1, int(S * 0.01)))
        if what < 0.4:
            _draw_face(cv, px0 + pw / 2, py0 + ph * 0.45, min(pw, ph) * 0.3, "secondary",
                       portrait=True)
        else:
            for _ in range(3):
                cv.circle(px0 + pw * r.uniform(0.2, 0.8), py0 + ph * r.uniform(0.2, 0.8),
                          min(pw, ph) * r.uniform(0.1, 0.3), fill=_random_colour(r))

    def box(x0, y0, x1, y1, col, depth=0.15):
        """A front-facing box with a lighter top face receding toward the vanishing point."""
        dd = depth
        top = [(x0, y0), (x1, y0), (x1 + (vx - x1) * dd, y0 + (vy - y0) * dd),
               (x0 + (vx - x0) * dd, y0 + (vy - y0) * dd)]
        d.polygon(top, fill=_mix(col, (255, 255, 255), 0.25))
        d.rectangle((x0, y0, x1, y1), fill=col, outline=_shade(col, 0.7))

    def floor_point(t, u):
        """A point on the floor: depth t (0 front, 1 back wall), u in 0..1 across."""
        y = S + (by1 - S) * t
        xl, xr = 0 + (bx0 - 0) * t, S + (bx1 - S) * t
        return xl + (xr - xl) * u, y, 1 - (1 - k) * t

    table_top = None
    furniture = {"living_room": ("sofa", "table", "shelf", "plant", "lamp", "tv"),
                 "kitchen": ("counter", "table", "counter", "plant", "lamp"),
                 "bedroom": ("bed", "shelf", "lamp", "plant", "table"),
                 "office": ("desk", "shelf", "shelf", "plant", "lamp"),
                 "corridor": ("plant", "lamp", "shelf")}[subtype]
    items = [furniture[0]] + r.sample(furniture[1:], k=min(len(furniture) - 1, r.randint(1, 3)))
    if subtype == "kitchen":
        items = ["counter"] + [i for i in items if i != "counter"]
    placements = []
    for item in items:
        t, u = r.uniform(0.25, 0.95), r.uniform(0.15, 0.85)
        placements.append((t, u, item))
    placements.sort(key=lambda p: -p[0])  # far first
    for t, u, item in placements:
        x, y, s = floor_point(t, u)
        s *= S
        col = _random_colour(r, s=(0.05, 0.8), v=(0.15, 0.9))
        if item in ("sofa", "bed"):
            w, h = s * (0.55 if item == "sofa" else 0.6), s * 0.18
            box(x - w / 2, y - h, x + w / 2, y, col, 0.25)
            if item == "sofa":
                d.rectangle((x - w / 2, y - h * 2.2, x + w / 2, y - h), fill=_shade(col, 0.85))
                for sx in (-1, 1):
                    d.rectangle((x + sx * w / 2 - s * 0.04 * (sx > 0), y - h * 1.5,
                                 x + sx * w / 2 + s * 0.04 * (sx < 0), y), fill=_shade(col, 0.75))
            else:
                d.rectangle((x - w / 2, y - h * 2.8, x - w / 2 + s * 0.04, y), fill=_shade(col, 0.6))
                d.ellipse((x - w / 2 + s * 0.06, y - h * 1.5, x - w / 2 + s * 0.2, y - h * 0.9),
                          fill=(240, 240, 235))
        elif item in ("table", "desk", "counter"):
            w = s * (0.4 if item == "table" else 0.5)
            h = s * 0.22
            top_y = y - h
            legc = _shade(col, 0.7)
            if item == "counter":
                box(x - w / 2, top_y, x + w / 2, y, col, 0.3)
                for i in range(3):
                    cx0 = x - w / 2 + w * i / 3
                    d.rectangle((cx0 + s * 0.01, top_y + s * 0.03, cx0 + w / 3 - s * 0.01, y - s * 0.01),
                                outline=legc, width=1)
            else:
                for lx in (x - w / 2 + s * 0.01, x + w / 2 - s * 0.03):
                    d.rectangle((lx, top_y, lx + s * 0.02, y), fill=legc)
                box(x - w / 2, top_y - s * 0.02, x + w / 2, top_y, col, 0.3)
            table_top = (x, top_y, w, s)
            if item == "desk" and r.random() < 0.6:  # a monitor
                d.rectangle((x - w * 0.2, top_y - s * 0.2, x + w * 0.2, top_y - s * 0.04),
                            fill=(25, 25, 30))
                d.rectangle((x - w * 0.18, top_y - s * 0.19, x + w * 0.18, top_y - s * 0.05),
                            fill=_random_colour(r, v=(0.3, 0.9)))
        elif item == "shelf":
            w, h = s * 0.3, s * 0.5
            box(x - w / 2, y - h, x + w / 2, y, col, 0.12)
            for j in range(1, 4):
                yy = y - h + h * j / 4
                d.line([(x - w / 2, yy), (x + w / 2, yy)], fill=_shade(col, 0.6), width=max(1, int(s * 0.01)))
                bx = x - w / 2 + s * 0.01
                while bx < x + w / 2 - s * 0.03:
                    bwid = s * r.uniform(0.015, 0.035)
                    d.rectangle((bx, yy - h / 4 * r.uniform(0.6, 0.9), bx + bwid, yy),
                                fill=_random_colour(r))
                    bx += bwid + s * 0.004
        elif item == "plant":
            pot = _random_colour(r, s=(0.2, 0.8), v=(0.3, 0.8))
            d.polygon([(x - s * 0.05, y - s * 0.1), (x + s * 0.05, y - s * 0.1), (x + s * 0.035, y),
                       (x - s * 0.035, y)], fill=pot)
            for _ in range(5):
                cv.circle(x + r.uniform(-0.06, 0.06) * s, y - s * r.uniform(0.13, 0.25),
                          s * r.uniform(0.03, 0.06), fill=_jitter((50, 130, 50), r, 25))
        elif item == "lamp":
            shade_col = _random_colour(r, s=(0, 0.6), v=(0.6, 1.0))
            if r.random() < 0.5:
                d.line([(x, y), (x, y - s * 0.45)], fill=(40, 40, 40), width=max(1, int(s * 0.01)))
                ly = y - s * 0.45
            else:
                lx = x
                d.line([(lx, 0), (lx, by0 * r.uniform(0.5, 1.1))], fill=(40, 40, 40), width=1)
                ly = by0 * r.uniform(0.5, 1.1)
            d.polygon([(x - s * 0.04, ly - s * 0.06), (x + s * 0.04, ly - s * 0.06), (x + s * 0.07, ly),
                       (x - s * 0.07, ly)], fill=shade_col)
            cv.circle(x, ly + s * 0.005, s * 0.02, fill=(255, 250, 210))
        elif item == "tv":
            w, h = s * 0.3, s * 0.18
            d.rectangle((x - w / 2, y - h - s * 0.3, x + w / 2, y - s * 0.3), fill=(15, 15, 20))
            d.rectangle((x - w / 2 + 2, y - h - s * 0.3 + 2, x + w / 2 - 2, y - s * 0.3 - 2),
                        fill=_random_colour(r, v=(0.2, 0.8)))
            box(x - w / 2, y - s * 0.3, x + w / 2, y, col, 0.15)
    if table_top is not None and r.random() < 0.45:  # food on the table
        x, ty, w, s = table_top
        _draw_food(cv, x + r.uniform(-0.2, 0.2) * w, ty - s * 0.06, s * r.uniform(0.06, 0.1),
                   "secondary")
    elif table_top is not None and r.random() < 0.3:
        x, ty, w, s = table_top
        _draw_object(cv, x + r.uniform(-0.3, 0.3) * w, ty - s * 0.06, s * 0.06, "secondary",
                     kind=r.choice(("mug", "bottle", "lamp", "clock", "phone")))
    if r.random() < 0.15:  # a person in the room
        x, y, s = floor_point(r.uniform(0.2, 0.9), r.uniform(0.15, 0.85))
        _draw_body(cv, x, y - s * S * 0.3, s * S * 0.3, "secondary")
    cv.add("indoor", S / 2, S / 2, S, S, "main")
    return _hue_of(wall), subtype, texture_poly


# --------------------------------------------------------------------------- #
# One image
# --------------------------------------------------------------------------- #
_ITEM_DRAWERS = {"face": _draw_face, "body": _draw_people, "text": _draw_text, "food": _draw_food,
                 "object": _draw_object}
_SCENE_DRAWERS = {"indoor": _draw_indoor, "outdoor": _draw_outdoor}


def _apply_surface_texture(cv, poly, tex):
    """Darken a scene surface (polygon) by the texture grating (wallpaper, ripples, furrows)."""
    S = cv.size
    mask = Image.new("L", (S, S), 0)
    ImageDraw.Draw(mask).polygon(poly, fill=255)
    g = _grating(S, tex["orientation"], tex["frequency"], tex["phase"])
    shade = (1.0 - 0.5 * tex["contrast"] * (1.0 + g)) * 255.0
    dark = Image.fromarray(shade.astype(np.uint8), mode="L").convert("RGB")
    cv.img.paste(ImageChops.multiply(cv.img, dark), (0, 0), mask)


def _draw_image(category, rnd, nprng, image_size, grayscale, track=False):
    """Draw one image; returns (uint8 array, label dict, element records, label map or None)."""
    S = image_size * _SUPERSAMPLE
    context = ""
    if category in SCENE_CATEGORIES:
        tex = _texture_params(rnd, kind=rnd.choice(("flat", "grating", "grating")))
        cv = _Canvas(Image.new("RGB", (S, S)), rnd, nprng, track)
        hue, subtype, poly = _SCENE_DRAWERS[category](cv)
        cv.fill_unlabelled(category)
        if tex["contrast"] > 0:
            tex["contrast"] *= 0.5
            _apply_surface_texture(cv, poly, tex)
        x = y = 0.0
        main = cv.records[-1]
    else:
        tex = _texture_params(rnd)
        if rnd.random() < _SCENE_CONTEXT_P:
            context = rnd.choice(SCENE_CATEGORIES)
            tex = _texture_params(rnd, kind="flat")
            cv = _Canvas(Image.new("RGB", (S, S)), rnd, nprng, track)
            _SCENE_DRAWERS[context](cv)
            cv.fill_unlabelled(context)
            cv.records[-1] = cv.records[-1][:4] + ("secondary",)
            cv.img = cv.img.reduce(4).resize((S, S), Image.BILINEAR)
            cv.d = ImageDraw.Draw(cv.img)
        else:
            img, _ = _background(rnd, nprng, S, tex)
            cv = _Canvas(img, rnd, nprng, track)
        if rnd.random() < _CLUTTER_P:
            _clutter(cv, rnd.randint(1, 4))
        rad_n = rnd.uniform(0.2, 0.62)
        x = rnd.uniform(-1, 1) * max(0.05, 0.95 - rad_n) * 0.9
        y = rnd.uniform(-1, 1) * max(0.05, 0.95 - rad_n) * 0.8
        if rnd.random() < _SECONDARY_ITEM_P:
            other = rnd.choice([c for c in _ITEM_CATEGORIES if c != category])
            sx = -math.copysign(rnd.uniform(0.35, 0.75), x) if abs(x) > 0.05 else rnd.uniform(-0.7, 0.7)
            srad = rad_n * rnd.uniform(0.35, 0.7)
            _ITEM_DRAWERS[other](cv, (sx + 1) * S / 2, (rnd.uniform(-0.7, 0.7) + 1) * S / 2,
                                 srad * S / 2, "secondary")
        n_before = len(cv.records)
        hue = _ITEM_DRAWERS[category](cv, (x + 1) * S / 2, (y + 1) * S / 2, rad_n * S / 2, "main")
        main = next(rec for rec in cv.records[n_before:] if rec[4] == "main")
        subtype = cv.kind
    records = cv.records

    img = cv.img.reduce(_SUPERSAMPLE) if _SUPERSAMPLE > 1 else cv.img
    blur = 0.0
    if rnd.random() < 0.2:
        blur = rnd.uniform(0.4, 1.2)
        img = img.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img, dtype=np.float32)
    contrast = math.exp(rnd.uniform(math.log(0.45), math.log(1.2)))
    brightness = rnd.uniform(-30.0, 30.0)
    mean = float(arr.mean())
    arr = (arr - mean) * contrast + mean + brightness
    noise = 0.0
    if rnd.random() < 0.2:
        noise = rnd.uniform(2.0, 8.0)
        arr += nprng.standard_normal(arr.shape[:2], dtype=np.float32)[..., None] * noise
    if grayscale:
        lum = arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        lum = np.clip(lum, 0, 255) / 255.0
        lum = lum ** rnd.uniform(0.8, 1.3)
        lift, gain = rnd.uniform(0.05, 0.15), rnd.uniform(0.6, 0.85)
        lum = lift + gain * lum + nprng.standard_normal(lum.shape, dtype=np.float32) * 0.015
        arr = np.repeat((lum * 255.0)[..., None], 3, axis=2)
    out = np.clip(arr + 0.5, 0, 255).astype(np.uint8)
    lum = out[..., 0] if grayscale else out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if main[0] not in SCENE_CATEGORIES:
        x, y = main[1], main[2]
    label = {
        "category": category, "subtype": subtype or "", "x": x, "y": y, "size": main[3] / 2.0,
        "hue": float(hue) % 1.0, "texture_kind": tex["kind"],
        "texture_orientation": tex["orientation"], "texture_frequency": tex["frequency"],
        "texture_contrast": tex["contrast"], "contrast": contrast, "brightness": brightness,
        "blur": blur, "noise": noise, "grayscale": grayscale, "context": context,
        "n_objects": len(records), "mean_luminance": float(lum.mean()) / 255.0,
        "rms_contrast": float(lum.std()) / 255.0,
    }
    label_map = None
    if cv.label_map is not None:
        label_map = cv.label_map[_SUPERSAMPLE // 2::_SUPERSAMPLE, _SUPERSAMPLE // 2::_SUPERSAMPLE]
    return out, label, records, label_map
