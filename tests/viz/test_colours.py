"""Colours shared by both flatmap renderers (brainembed.viz.colours), and no import cycle between the renderers."""

import ast
from pathlib import Path

import numpy as np
import pytest

from brainembed.viz.colours import (
    categorical_colormap,
    category_labels,
    colour_values,
    continuous_limits,
    encode_categories,
)


def test_category_labels_sort_numbers_then_text_then_other():
    arrays = [np.array([3.0, np.nan, 1.0]), np.array(["other", "FFA", None, "EBA"], dtype=object),
              np.array([2, 1])]
    assert category_labels(arrays) == [1, 2, 3, "EBA", "FFA", "other"]
    codes = encode_categories(np.array(["FFA", None, 2.0, "x"], dtype=object), [1, 2, 3, "EBA", "FFA", "other"])
    np.testing.assert_array_equal(codes, [4, np.nan, 1, np.nan])


@pytest.mark.parametrize("n", [3, 12, 25, 70])
def test_categorical_colormap_has_distinct_colours(n):
    cmap = categorical_colormap(n)
    colours = {tuple(np.round(cmap(k), 4)) for k in range(n)}
    assert cmap.N == n and len(colours) == n


def test_neutral_label_is_pale_grey_and_uses_no_palette_colour():
    cmap = categorical_colormap(3, labels=["FFA", "PPA", "other"])
    plain = categorical_colormap(2)
    assert cmap(0) == plain(0) and cmap(1) == plain(1)
    r, g, b, _ = cmap(2)
    assert r == g == b and r > 0.9


def test_continuous_limits_centre_values_of_both_signs():
    cmap, vmin, vmax = continuous_limits([np.array([-0.2, 0.5, np.nan])])
    assert (vmin, vmax) == (-0.5, 0.5) and cmap.name.startswith("RdBu_r")
    cmap, vmin, vmax = continuous_limits([np.array([0.1, 0.4])], vmax=1.0)
    assert (vmin, vmax) == (0.1, 1.0) and cmap.name.startswith("viridis")


def test_colour_values_codes_categories_and_scales_numbers():
    values, categorical, labels, cmap, vmin, vmax = colour_values({"lh": np.array(["FFA", "other", "EBA"])})
    assert categorical and labels == ["EBA", "FFA", "other"] and (vmin, vmax) == (-0.5, 2.5)
    np.testing.assert_array_equal(values["lh"], [1, 2, 0])
    assert cmap(2)[0] == cmap(2)[1] == cmap(2)[2] > 0.9  # "other" in pale grey
    values, categorical, labels, cmap, vmin, vmax = colour_values({"lh": np.array([0.2, 0.6])})
    assert not categorical and labels is None and (vmin, vmax) == (0.2, 0.6)


def _imported_modules(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_pycortex_renderer_does_not_import_the_nilearn_renderer():
    """flatmap.py may call pycortex_flatmap.py; the shared colours live in colours.py, so no cycle."""
    viz = Path(__file__).resolve().parents[2] / "brainembed" / "viz"
    assert "brainembed.viz.flatmap" not in _imported_modules(viz / "pycortex_flatmap.py")
    assert "brainembed.viz.flatmap" not in _imported_modules(viz / "colours.py")
    assert "brainembed.viz.pycortex_flatmap" not in _imported_modules(viz / "colours.py")
