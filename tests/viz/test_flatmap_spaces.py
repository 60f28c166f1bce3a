"""Flatmaps for every space: fsaverage3 ... fsaverage7, fsLR-32k (mesh or a clear refusal), volumetric voxels.

Nothing downloads: fsaverage5 comes from nilearn's bundled data (NILEARN_DATA
points at a temporary folder in the test environment), and the fsLR-32k
pycortex subject is a stand-in.
"""

import numpy as np
import pandas as pd
import pytest

import brainembed.viz.flatmap as fm
import brainembed.viz.pycortex_flatmap as pf
from brainembed.cli import main
from brainembed.data import save_crowd
from brainembed.errors import BrainembedError
from brainembed.training.run import RunConfig
from tests.conftest import make_small_crowd
from tests.viz.conftest import distinct_colours


def _table(n_vertices, n=40, space=None, seed=0):
    rng = np.random.default_rng(seed)
    parts = [pd.DataFrame({"hemi": h, "vertex": np.sort(rng.choice(n_vertices, n, replace=False))})
             for h in ("lh", "rh")]
    table = pd.concat(parts, ignore_index=True)
    if space is not None:
        table["space"] = space
    return table


@pytest.mark.parametrize("space, n", [("fsaverage3", 642), ("fsaverage4", 2562), ("fsaverage5", 10242),
                                      ("fsaverage6", 40962), ("fsaverage7", 163842), ("fsaverage", 163842),
                                      ("fsLR32k", 32492)])
def test_surface_space_from_the_space_column(space, n):
    got = fm.surface_space(_table(n, space=space))
    assert got == ("fsaverage" if n == 163842 else space, n)


def test_surface_space_inferred_and_refused():
    assert fm.surface_space(_table(10242)) == ("fsaverage5", 10242)
    assert fm.surface_space(pd.DataFrame({"hemi": ["lh"], "vertex": [40000]})) == ("fsaverage6", 40962)
    with pytest.raises(BrainembedError, match=r"subject GOD:1 has volumetric voxels \(no surface vertex\), which "
                                              r"have no flatmap; look at them by ROI instead: brainembed embed-map"):
        fm.surface_space(pd.DataFrame({"hemi": ["none"] * 3, "vertex": [-1] * 3}), "subject GOD:1")
    with pytest.raises(BrainembedError, match="volumetric voxels"):
        fm.surface_space(pd.DataFrame({"hemi": ["none"], "x": [1.0]}))
    with pytest.raises(BrainembedError, match=r"vertex index 700 is beyond fsaverage3 \(642"):
        fm.surface_space(pd.DataFrame({"hemi": ["lh"], "vertex": [700], "space": ["fsaverage3"]}))
    with pytest.raises(BrainembedError, match="surface 'MNI152', which brainembed cannot draw"):
        fm.surface_space(pd.DataFrame({"hemi": ["lh"], "vertex": [7], "space": ["MNI152"]}))


@pytest.mark.parametrize("n", [642, 2562])
def test_coarse_fsaverage_spread_to_nearest_vertex(n):
    from brainembed.viz.meshes import fsaverage5_mesh

    rng = np.random.default_rng(3)
    values = {"lh": rng.normal(size=n), "rh": rng.normal(size=n)}
    fine = fm.from_coarse_fsaverage(values)
    sphere, _ = fsaverage5_mesh("sphere", "lh")
    assert fine["lh"].shape == (10242,)
    np.testing.assert_array_equal(fine["lh"][:n], values["lh"])   # nested: the coarse vertices keep their values
    for j in rng.choice(np.arange(n, 10242), 25, replace=False):   # the others: the nearest coarse vertex's value
        nearest = np.argmin(((sphere[:n] - sphere[j]) ** 2).sum(1))
        assert fine["lh"][j] == values["lh"][nearest]


@pytest.mark.parametrize("space, n", [("fsaverage3", 642), ("fsaverage4", 2562), ("fsaverage6", 40962),
                                      ("fsaverage7", 163842)])
def test_every_fsaverage_resolution_is_drawn(tmp_path, space, n):
    voxels = _table(n, n=min(n // 2, 3000), space=space, seed=1)
    values = np.arange(len(voxels)) % 4
    with _maybe_warns(n):
        fig = fm.plot_subject_flatmaps({"S:1": values}, {"S:1": voxels}, renderer="nilearn")
    out = tmp_path / f"{space}.png"
    fig.savefig(out, dpi=40)
    assert distinct_colours(out) > 5


def _maybe_warns(n):
    import contextlib

    from brainembed.errors import BrainembedWarning

    return pytest.warns(BrainembedWarning, match="drawn on fsaverage5") if n > 10242 else contextlib.nullcontext()


def test_fslr_without_a_mesh_is_refused_in_one_sentence():
    voxels = _table(32492, space="fsLR32k")
    for renderer in ("nilearn", "pycortex"):
        with pytest.raises(BrainembedError) as err:
            fm.plot_subject_flatmaps({"NOD:1": np.ones(len(voxels))}, {"NOD:1": voxels}, renderer=renderer,
                                     roi_view="brainembed embed-map --run R --color roi")
        text = str(err.value)
        assert text.startswith("subject NOD:1 lies on the fsLR-32k surface and no fsLR-32k flat mesh is available")
        assert text.endswith("look at it by ROI instead: brainembed embed-map --run R --color roi.")
        assert text.count(". ") == 0
    with pytest.raises(BrainembedError, match="fsLR-32k"):
        fm.plot_flatmap({"lh": np.ones(32492), "rh": np.ones(32492)}, renderer="nilearn")
    with pytest.raises(BrainembedError, match="cannot share one flatmap figure"):
        fm.plot_subject_flatmaps([np.ones(80), np.ones(80)], [voxels, _table(10242)], renderer="nilearn")


def test_fslr_drawn_on_a_users_pycortex_fslr_subject(monkeypatch, tmp_path):
    voxels = _table(32492, space="fsLR32k")
    calls = []
    monkeypatch.setattr(fm, "resolve_renderer", lambda renderer="auto": "pycortex")
    monkeypatch.setattr(pf, "user_fsaverage_subject", lambda n: ("fsLR32k", tmp_path) if n == 32492 else None)

    def fake_plot(per_hemi, **kwargs):
        calls.append((per_hemi, kwargs))

    monkeypatch.setattr(fm, "plot_flatmap", fake_plot)
    values = np.arange(len(voxels), dtype=float)
    fm.plot_subject_flatmaps({"NOD:1": values}, {"NOD:1": voxels}, renderer="pycortex")
    (per_hemi, kwargs), = calls
    assert kwargs["subject"] == ("fsLR32k", tmp_path) and kwargs["renderer"] == "pycortex"
    assert per_hemi["lh"].shape == per_hemi["rh"].shape == (32492,)
    lh = voxels[voxels["hemi"] == "lh"]
    np.testing.assert_array_equal(per_hemi["lh"][lh["vertex"]], values[lh.index])


def test_user_subject_lookup_names_fslr(monkeypatch, tmp_path):
    (tmp_path / "fs_LR_32k").mkdir()
    monkeypatch.setattr(pf, "_user_filestore", lambda: tmp_path)
    monkeypatch.setattr(pf, "_subject_vertices", lambda store, name: 32492 if name == "fs_LR_32k" else None)
    assert pf.user_fsaverage_subject(32492) == ("fs_LR_32k", tmp_path)
    assert pf.user_fsaverage_subject(10242) is None


@pytest.fixture(scope="module")
def volumetric_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("flatmap-spaces")
    crowd = make_small_crowd(n_voxels=(30, 20))
    for s in crowd.subjects:
        s.voxels["hemi"] = "none"
        s.voxels["vertex"] = -1
    store = save_crowd(crowd, root / "data")
    run = root / "run"
    run.mkdir()
    RunConfig(data=str(store), subjects=tuple(crowd.keys),
              voxels_per_subject=tuple(s.n_voxels for s in crowd.subjects)).save_yaml(run / "config.yaml")
    return run


def test_cli_volumetric_voxels_exit_2_with_the_roi_view(volumetric_run, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["flatmap", "--run", str(volumetric_run), "--value", "roi", "--renderer", "nilearn",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "has volumetric voxels (no surface vertex), which have no flatmap" in err
    assert f"brainembed embed-map --run {volumetric_run} --color roi" in err
    assert not out.exists()
