"""Tests of the procedural stimulus generator."""

import numpy as np
import pandas as pd
import pytest

from brainembed.errors import BrainembedError
from brainembed.simulate.stimuli import (
    CATEGORIES,
    SCENE_CATEGORIES,
    StimulusSet,
    category_coverage,
    draw_stimuli,
)

LABEL_COLUMNS = {"category", "x", "y", "size", "hue", "texture_orientation", "texture_frequency",
                 "contrast", "grayscale", "subtype", "texture_contrast", "context", "n_objects"}


@pytest.fixture(scope="module")
def stimset():
    return draw_stimuli(84, image_size=40, random_state=3)


def test_shapes_dtypes_and_labels(stimset):
    assert isinstance(stimset, StimulusSet)
    assert stimset.images.shape == (84, 40, 40, 3)
    assert stimset.images.dtype == np.uint8
    assert len(stimset) == 84 and stimset.image_size == 40
    labels = stimset.labels
    assert len(labels) == 84 and LABEL_COLUMNS <= set(labels.columns)
    numeric = labels[["x", "y", "size", "hue", "texture_orientation", "texture_frequency",
                      "texture_contrast", "contrast", "mean_luminance", "rms_contrast"]]
    assert np.all(np.isfinite(numeric.to_numpy(float)))
    assert labels.x.between(-1, 1).all() and labels.y.between(-1, 1).all()
    assert labels.hue.between(0, 1).all() and (labels["size"] > 0).all()
    assert labels.texture_orientation.between(0, np.pi).all()
    assert not labels.grayscale.any()
    assert set(stimset.objects.columns) >= {"image", "category", "x", "y", "radius", "role"}
    # images are not blank: every image has some spatial structure
    assert (stimset.images.reshape(84, -1).std(axis=1) > 2).all()


def test_deterministic_and_prefix_stable():
    a = draw_stimuli(12, image_size=32, random_state=7)
    b = draw_stimuli(12, image_size=32, random_state=np.random.default_rng(7))
    np.testing.assert_array_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.objects, b.objects)
    longer = draw_stimuli(20, image_size=32, random_state=7)
    np.testing.assert_array_equal(a.images, longer.images[:12])
    other = draw_stimuli(12, image_size=32, random_state=8)
    assert not np.array_equal(a.images, other.images)


def test_every_category_appears_with_default_weights(stimset):
    counts = stimset.labels.category.value_counts()
    assert set(counts.index) == set(CATEGORIES)
    assert counts.min() >= 4


def test_category_weights():
    faces = draw_stimuli(6, image_size=24, random_state=0, category_weights={"face": 1.0})
    assert (faces.labels.category == "face").all()
    seq = draw_stimuli(6, image_size=24, random_state=0,
                       category_weights=[0, 0, 0, 1, 0, 0, 0])
    assert (seq.labels.category == "outdoor").all()


def test_grayscale_has_equal_channels():
    st = draw_stimuli(10, image_size=32, random_state=1, grayscale=True)
    np.testing.assert_array_equal(st.images[..., 0], st.images[..., 1])
    np.testing.assert_array_equal(st.images[..., 0], st.images[..., 2])
    assert st.labels.grayscale.all()


def test_objects_consistent_with_labels(stimset):
    objects, labels = stimset.objects, stimset.labels
    assert objects.image.between(0, len(stimset) - 1).all()
    assert set(objects.category) <= set(CATEGORIES)
    assert (objects.radius > 0).all()
    main = objects[objects.role == "main"]
    assert main.image.tolist() == list(range(len(stimset)))  # exactly one main row per image
    main = main.set_index("image").sort_index()
    assert (main.category.to_numpy() == labels.category.to_numpy()).all()
    np.testing.assert_allclose(main.x, labels.x)
    np.testing.assert_allclose(main.y, labels.y)
    np.testing.assert_allclose(main.radius / 2, labels["size"])
    scenes = main[main.category.isin(SCENE_CATEGORIES)]
    np.testing.assert_allclose(scenes[["x", "y"]], 0, atol=1e-9)
    np.testing.assert_allclose(scenes.radius, 1.0)
    assert (labels.n_objects.to_numpy() == objects.groupby("image").size().to_numpy()).all()
    # secondary elements exist (people in scenes, text on objects, ...)
    assert (objects.role == "secondary").sum() > 0


def test_subset_and_concatenate(stimset):
    sub = stimset.subset([5, 2])
    np.testing.assert_array_equal(sub.images[0], stimset.images[5])
    assert sub.labels.category.tolist() == stimset.labels.category.iloc[[5, 2]].tolist()
    expected = stimset.objects[stimset.objects.image == 2].drop(columns="image").reset_index(drop=True)
    got = sub.objects[sub.objects.image == 1].drop(columns="image").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    both = StimulusSet.concatenate([sub, stimset.subset(np.arange(3))])
    assert len(both) == 5 and both.objects.image.max() == 4
    assert (both.objects.role == "main").sum() == 5


def test_label_maps_leave_images_unchanged_and_follow_the_elements(stimset):
    drawn = draw_stimuli(84, image_size=40, random_state=3, masks=True)
    np.testing.assert_array_equal(drawn.images, stimset.images)  # recording the maps draws nothing
    pd.testing.assert_frame_equal(drawn.labels, stimset.labels)
    assert stimset.masks is None and drawn.masks.shape == (84, 40, 40) and drawn.masks.dtype == np.uint8
    assert drawn.masks.max() <= len(CATEGORIES)
    codes = drawn.labels.category.map({c: i + 1 for i, c in enumerate(CATEGORIES)}).to_numpy()
    for i in range(len(drawn)):
        present = set(np.unique(drawn.masks[i])) - {0}
        elements = {CATEGORIES.index(c) + 1 for c in drawn.objects[drawn.objects.image == i].category}
        assert codes[i] in present and present <= elements  # the main category is painted, nothing unlisted is
        if drawn.labels.category[i] in SCENE_CATEGORIES:
            assert (drawn.masks[i] != 0).all()  # a scene owns every pixel no item covers
    items = ~drawn.labels.category.isin(SCENE_CATEGORIES).to_numpy()
    main = drawn.masks == codes[:, None, None]
    ys, xs = np.mgrid[0:40, 0:40]
    cx = np.array([xs[m].mean() for m in main[items]]) / 20 - 1  # centroid of the main item's pixels
    assert np.corrcoef(cx, drawn.labels.x[items])[0, 1] > 0.8
    sub = StimulusSet.concatenate([drawn.subset([3, 1]), drawn.subset([0])])
    np.testing.assert_array_equal(sub.masks, drawn.masks[[3, 1, 0]])
    assert StimulusSet.concatenate([drawn, stimset]).masks is None


def test_category_coverage_closed_form():
    objects = pd.DataFrame({"image": [0, 0, 1], "category": ["face", "face", "indoor"],
                            "x": [0.5, -0.5, 0.0], "y": [0.5, 0.5, 0.0],
                            "radius": [0.2, 0.2, 1.0]})
    centres = np.array([[0.5, 0.5], [-0.7, -0.7], [0.9, 0.9]])
    cov = category_coverage(objects, 2, centres, 0.05)
    assert cov.shape == (2, len(CATEGORIES), 3) and cov.dtype == np.float32
    face, indoor = CATEGORIES.index("face"), CATEGORIES.index("indoor")
    assert cov[0, face, 0] > 0.95  # element centred on a small field
    assert cov[0, face, 1] < 1e-6  # element far away
    assert cov[1, indoor, :2].min() > 0.99  # a scene covers every field inside the image
    others = np.delete(np.arange(len(CATEGORIES)), [face, indoor])
    assert np.all(cov[:, others] == 0)
    # a field half outside the image is half covered by a scene
    edge = category_coverage(objects, 2, [[1.0, 0.0]], 0.1)
    assert edge[1, indoor, 0] == pytest.approx(0.5, abs=0.01)
    # numerical integral of the Gaussian over the element's square
    grid = np.linspace(-2, 2, 801)
    gx, gy = np.meshgrid(grid, grid)
    sigma, c = 0.3, (0.2, 0.1)
    dens = np.exp(-((gx - c[0]) ** 2 + (gy - c[1]) ** 2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    inside = (np.abs(gx - 0.5) <= 0.2) & (np.abs(gy - 0.5) <= 0.2)
    numeric = (dens * inside).sum() * (grid[1] - grid[0]) ** 2
    per_field = category_coverage(objects.iloc[:1], 1, [c], [sigma])
    assert per_field[0, face, 0] == pytest.approx(numeric, rel=0.02)
    # elements of one category add up; a subset of categories keeps the requested order
    sub = category_coverage(objects, 2, [[0.0, 0.5]], 2.0, categories=("indoor", "face"))
    single = category_coverage(objects.iloc[:1], 2, [[0.0, 0.5]], 2.0, categories=("face",))
    assert sub.shape == (2, 2, 1)
    assert sub[0, 1, 0] == pytest.approx(2 * single[0, 0, 0], rel=1e-5)


def test_category_coverage_on_drawn_set(stimset):
    centres = np.random.default_rng(0).uniform(-0.8, 0.8, size=(30, 2))
    cov = category_coverage(stimset.objects, len(stimset), centres, np.full(30, 0.2),
                            chunk_size=7)
    assert cov.shape == (len(stimset), len(CATEGORIES), 30)
    assert np.all(np.isfinite(cov)) and cov.min() >= 0
    scene = stimset.labels.category.isin(SCENE_CATEGORIES).to_numpy()
    cat_idx = stimset.labels.category.map(CATEGORIES.index).to_numpy()
    own = cov[np.arange(len(stimset)), cat_idx]
    assert own[scene].min() > 0.69  # scenes cover every field (>= Phi(1)^2 at a corner)
    # a field on the main item of a foreground image is covered more than a random field
    items = stimset.labels[~scene]
    on_item = category_coverage(stimset.objects, len(stimset), items[["x", "y"]].to_numpy(), 0.05)
    diag = on_item[items.index.to_numpy(), cat_idx[~scene], np.arange(len(items))]
    assert np.median(diag) > 0.8


@pytest.mark.parametrize("kwargs", [
    {"n_images": -1}, {"n_images": 2.5}, {"n_images": "3"}, {"image_size": 8},
    {"category_weights": {"cat": 1.0}}, {"category_weights": [1, 2]},
    {"category_weights": [0] * 7}, {"category_weights": [-1, 1, 1, 1, 1, 1, 1]},
    {"category_weights": {"face": np.nan}}, {"random_state": "seed"}, {"random_state": -2},
    {"grayscale": "yes"}, {"masks": "yes"},
])
def test_draw_stimuli_rejects_bad_arguments(kwargs):
    args = {"n_images": 2, "image_size": 16} | kwargs
    with pytest.raises(BrainembedError):
        draw_stimuli(**args)


def test_category_coverage_rejects_bad_arguments():
    ok = pd.DataFrame({"image": [0], "category": ["face"], "x": [0.0], "y": [0.0], "radius": [0.1]})
    bad_calls = [
        lambda: category_coverage(ok, 1, np.zeros((3, 3)), 0.1),
        lambda: category_coverage(ok, 1, np.zeros((3, 2)), 0.0),
        lambda: category_coverage(ok, 1, np.zeros((3, 2)), [0.1, 0.2]),
        lambda: category_coverage(ok, 1, np.full((3, 2), np.nan), 0.1),
        lambda: category_coverage(ok.drop(columns="radius"), 1, np.zeros((3, 2)), 0.1),
        lambda: category_coverage(ok.assign(image=[4]), 1, np.zeros((3, 2)), 0.1),
        lambda: category_coverage(ok.assign(radius=[-1.0]), 1, np.zeros((3, 2)), 0.1),
        lambda: category_coverage(ok, 1, np.zeros((3, 2)), 0.1, categories=()),
    ]
    for call in bad_calls:
        with pytest.raises(BrainembedError):
            call()


def test_categories_not_separable_by_mean_colour():
    """Planted check: mean RGB alone reads the category out poorly, structure does better."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    size = 48
    st = draw_stimuli(420, image_size=size, random_state=0)
    x = st.images.astype(np.float32) / 255
    y = st.labels.category.to_numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    acc_colour = cross_val_score(clf, x.mean(axis=(1, 2)), y, cv=3).mean()
    # gradient-orientation energy on a 3x3 grid (a crude HOG)
    gray = x.mean(-1)
    gy, gx = np.gradient(gray, axis=(1, 2))
    mag, ang = np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((ang / np.pi * 6).astype(int), 5)
    c = size // 3
    hog = np.concatenate([np.stack([(mag * (bins == k))[:, i * c:(i + 1) * c, j * c:(j + 1) * c]
                                    .mean(axis=(1, 2)) for k in range(6)], axis=1)
                          for i in range(3) for j in range(3)], axis=1)
    acc_hog = cross_val_score(clf, np.sqrt(hog), y, cv=3).mean()
    assert acc_colour < 0.4  # chance is 1/7
    assert acc_hog > acc_colour + 0.08


def test_progress_bar_runs():
    st = draw_stimuli(2, image_size=16, random_state=0, progress=True)
    assert len(st) == 2
