"""Flatmaps drawn by the nilearn renderer, and the vertex mapping shared by both renderers."""

import warnings

import numpy as np
import pandas as pd
import pytest

from brainembed.errors import BrainembedError, BrainembedWarning
from brainembed.viz.flatmap import (
    plot_flatmap,
    plot_subject_flatmaps,
    resolve_renderer,
    surface_size,
    to_fsaverage5,
    voxels_to_vertices,
)
from tests.viz.conftest import distinct_colours, voxel_table


def test_voxels_to_vertices_places_values_per_hemisphere():
    voxels = pd.DataFrame({"hemi": ["lh", "rh", "left", "R"], "vertex": [3, 3, 10, 20]})
    per_hemi = voxels_to_vertices(voxels, np.array([1.0, 2.0, 3.0, 4.0]))
    assert per_hemi["lh"].shape == per_hemi["rh"].shape == (10242,)
    assert per_hemi["lh"][3] == 1.0 and per_hemi["lh"][10] == 3.0
    assert per_hemi["rh"][3] == 2.0 and per_hemi["rh"][20] == 4.0
    assert np.isnan(per_hemi["lh"]).sum() == 10240
    labels = voxels_to_vertices(voxels, np.array(["a", "b", "c", "d"], dtype=object))
    assert labels["lh"][3] == "a" and labels["lh"][0] is None


def test_voxels_to_vertices_rejects_bad_input():
    with pytest.raises(BrainembedError, match="'hemi' and 'vertex'"):
        voxels_to_vertices(pd.DataFrame({"x": [1]}), [1.0])
    with pytest.raises(BrainembedError, match="2 values for 1 voxels"):
        voxels_to_vertices(pd.DataFrame({"hemi": ["lh"], "vertex": [0]}), [1.0, 2.0])


def test_full_fsaverage_vertices_are_subsampled_to_fsaverage5():
    voxels = pd.DataFrame({"hemi": ["lh", "lh", "rh", "rh"], "vertex": [5, 10242, 100, 163841]})
    assert surface_size(voxels) == 163842
    assert surface_size(voxels.iloc[[0, 2]]) == 10242
    assert surface_size(pd.DataFrame({"vertex": [40000]})) == 40962
    with pytest.raises(BrainembedError, match="beyond full fsaverage"):
        surface_size(pd.DataFrame({"vertex": [163842]}))
    full = voxels_to_vertices(voxels, np.array([1.0, 2.0, 3.0, 4.0]), n_vertices=163842)
    small = to_fsaverage5(full)
    assert small["lh"].shape == (10242,)
    # fsaverage5 vertex i is fsaverage vertex i: those are kept, finer ones dropped.
    assert small["lh"][5] == 1.0 and small["rh"][100] == 3.0
    assert np.isfinite(small["lh"]).sum() == 1 and np.isfinite(small["rh"]).sum() == 1
    # The default n_vertices drops vertices beyond fsaverage5 too.
    direct = voxels_to_vertices(voxels, np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(np.isfinite(direct["lh"]), np.isfinite(small["lh"]))


def test_subject_flatmaps_warn_when_subsampling_full_fsaverage(tmp_path):
    voxels = voxel_table(n_per_hemi=3000, n_vertices=163842)
    kept = int((voxels["vertex"] < 10242).sum())
    with pytest.warns(BrainembedWarning, match=f"kept the {kept} of 6000 voxels"):
        fig = plot_subject_flatmaps({"NSD:1": np.arange(6000.0)}, {"NSD:1": voxels}, renderer="nilearn")
    fig.savefig(tmp_path / "full.png", dpi=40)


def test_nilearn_subject_flatmaps_categorical_with_one_legend(tmp_path, voxels):
    labels = np.array(["V1", "FFA", "PPA", "other"], dtype=object)[voxels["vertex"].to_numpy() % 4]
    fig = plot_subject_flatmaps({"7T:1": labels, "7T:2": labels[::-1].copy()}, {"7T:1": voxels, "7T:2": voxels},
                                renderer="nilearn", title="ROIs", label="ROI")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["7T:1", "7T:2"]
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["FFA", "PPA", "V1", "other"]
    path = tmp_path / "rois.png"
    fig.savefig(path, dpi=60)
    assert distinct_colours(path) >= 6


def test_nilearn_subject_flatmaps_continuous_with_colour_bar(tmp_path, voxels):
    values = np.linspace(0, 1, len(voxels))
    fig = plot_subject_flatmaps([values, values ** 2], [voxels, voxels], renderer="nilearn", label="r")
    assert len(fig.axes) == 3  # two panels and a colour bar
    assert fig.axes[-1].get_xlabel() == "r"
    path = tmp_path / "accuracy.png"
    fig.savefig(path, dpi=60)
    assert distinct_colours(path) >= 40


def test_integer_values_are_categories_and_share_colours_across_subjects(voxels):
    a = (voxels["vertex"].to_numpy() % 3).astype(int)
    b = np.where(a == 0, 5, a)  # subject 2 has a label subject 1 lacks
    fig = plot_subject_flatmaps({"1": a, "2": b}, {"1": voxels, "2": voxels}, renderer="nilearn")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0", "1", "2", "5"]


def test_plot_flatmap_single_axes_and_errors(voxels):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    out = plot_flatmap(voxels_to_vertices(voxels, np.ones(len(voxels))), ax=ax, title="ones")
    assert out is ax and ax.get_title() == "ones"
    with pytest.raises(BrainembedError, match="nothing to draw"):
        plot_flatmap({})
    with pytest.raises(BrainembedError, match="unknown flatmap renderer"):
        plot_flatmap({"lh": np.zeros(10242)}, renderer="blender")
    with pytest.raises(BrainembedError, match="unknown flatmap renderer"):
        resolve_renderer("blender")
    with pytest.raises(BrainembedError, match="1 value arrays but 2 voxel tables"):
        plot_subject_flatmaps([np.ones(len(voxels))], [voxels, voxels], renderer="nilearn")
    with pytest.raises(BrainembedError, match="no voxel table for subject"):
        plot_subject_flatmaps({"a": np.ones(3)}, {"b": voxels}, renderer="nilearn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_renderer("nilearn")
