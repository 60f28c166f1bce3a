"""The MOSAIC reader on subject files in the published layout, checked against the mosaic-dataset package's reader."""

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest

from brainembed.cli import main
from brainembed.data.readers.mosaic import open_mosaic, read_mosaic, stimulus_key
from brainembed.errors import BrainembedError, BrainembedWarning
from tests.data.readers.mosaic_fixtures import N_LH, N_RH, write_mosaic_subject, write_splits, write_template

NOD_STIMULI = {"n01440764_10026.JPEG": ("train", 1), "n01443537_2.JPEG": ("train", 1),
               "000000007665.jpg": ("test", 3), "000000010948.jpg": ("test", 3)}
NSD_STIMULI = {"000000391895.jpg": ("train", 2), "000000007665.jpg": ("train", 1),
               "000000522418.jpg": ("test", 3), "001.png": ("test", 2)}


@pytest.fixture
def mosaic_package(monkeypatch):
    """``mosaic.datasets.single_subject`` of the installed mosaic-dataset, imported without its package
    ``__init__`` (which needs torch models and hcp_utils) and with a stand-in ``hcp_utils`` (only the
    ``parse_betas=True`` path uses it)."""
    spec = importlib.util.find_spec("mosaic")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("mosaic-dataset is not installed (pip install --no-deps mosaic-dataset)")
    before = set(sys.modules)
    root = list(spec.submodule_search_locations)[0]
    for name, path in (("mosaic", root), ("mosaic.utils", f"{root}/utils")):
        stub = types.ModuleType(name)
        stub.__path__ = [path]
        monkeypatch.setitem(sys.modules, name, stub)
    hcp = types.ModuleType("hcp_utils")
    hcp.mmp = types.SimpleNamespace(map_all=np.zeros(91282, int))
    monkeypatch.setitem(sys.modules, "hcp_utils", hcp)
    yield importlib.import_module("mosaic.datasets.single_subject")
    for name in set(sys.modules) - before:
        if name.startswith("mosaic") or name == "hcp_utils":
            del sys.modules[name]


@pytest.fixture
def two_files(tmp_path):
    nod = write_mosaic_subject(tmp_path, 1, "NOD", NOD_STIMULI, seed=1, nan_columns=(5, 40000, 70000))
    nsd = write_mosaic_subject(tmp_path, 2, "NSD", NSD_STIMULI, seed=2)
    return tmp_path, nod, nsd


def _trials(planted, stem):
    return [v for k, v in planted.items() if f"_stimulus-{stem}_phase-" in k]


def test_package_reader_reads_our_fixture_back_identically(two_files, mosaic_package):
    root, nod, _ = two_files
    package = mosaic_package.SingleSubjectDataset(folder=str(root), dataset_name="NaturalObjectDataset",
                                                  subject_id=1, parse_betas=False)
    assert len(package) == len(nod)
    items = [package[i] for i in range(len(package))]
    assert [it["name"] for it in items] == list(nod)                     # creation order (track_order)
    for it in items:
        np.testing.assert_array_equal(it["betas"], nod[it["name"]])
    package.data.close()
    # ... and our reader gives the same single trials for each of the package's items
    with pytest.warns(BrainembedWarning):
        crowd = read_mosaic(root, subjects=["sub-01_NOD"], repeats=True)
    s = crowd.subject("MOSAIC-NOD:1")
    cols = s.voxels["grayordinate"].to_numpy()
    for it in items:
        stem = it["name"].split("_stimulus-")[1].rsplit("_phase-", 1)[0]
        row = list(s.image_ids).index(stimulus_key("NOD", stem)[0])
        rep = int(it["name"].rsplit("_rep-", 1)[1])
        np.testing.assert_array_equal(s.repeats[row, rep], it["betas"][cols])


def test_planted_trials_phase_split_and_vertex_table(two_files, tmp_path):
    root, nod, nsd = two_files
    template, lh, rh = write_template(tmp_path / "template.dscalar.nii")
    with pytest.warns(BrainembedWarning) as record:
        crowd = read_mosaic(root, template=template)
    messages = " ".join(str(w.message) for w in record)
    assert "no MOSAIC split files" in messages and "dropped 2 of 59412 voxels" in messages
    assert crowd.keys == ["MOSAIC-NOD:1", "MOSAIC-NSD:2"]
    s = crowd.subject("MOSAIC-NOD:1")
    stems = ["n01440764_10026", "n01443537_2", "000000007665", "000000010948"]
    np.testing.assert_array_equal(s.image_ids, [stimulus_key("NOD", st)[0] for st in stems])
    assert list(s.split) == ["train", "train", "test", "test"]
    keep = np.setdiff1d(np.arange(N_LH + N_RH), [5, 40000])               # NaN grayordinates dropped
    np.testing.assert_array_equal(s.voxels["grayordinate"], keep)
    for row, st in enumerate(stems):
        expected = np.mean(_trials(nod, st), axis=0)[keep]
        np.testing.assert_allclose(s.responses[row], expected, rtol=1e-6, atol=1e-6)
    # vertex: the fsLR-32k vertex of each cortical grayordinate, from the template's brain models
    vertices = np.r_[lh, rh]
    np.testing.assert_array_equal(s.voxels["vertex"], vertices[keep])
    assert list(s.voxels["hemi"][:3]) == ["lh"] * 3 and s.voxels["hemi"].iloc[-1] == "rh"
    assert set(s.voxels["space"]) == {"fsLR32k"}
    assert s.attrs["mosaic_dataset_name"] == "NOD"
    meta = crowd.images.metadata.set_index(crowd.images.ids)
    assert meta.loc[7665, "image_key"] == "coco:7665"                     # seen by both subjects: one image
    assert meta.loc[stimulus_key("NSD", "001")[0], "image_key"] == "mosaic:NSD/001"
    assert meta.loc[stimulus_key("NOD", "n01443537_2")[0], "image_key"] == "imagenet:n01443537_2"
    assert len(crowd.images.ids) == 7


def test_split_files_decide_train_test_and_exclusions(two_files):
    root, nod, nsd = two_files
    assign = {k: "train_naturalistic.json" if "_phase-train_" in k else "test_naturalistic.json" for k in nod}
    assign.update({k: "train_naturalistic.json" if "_phase-train_" in k else "test_naturalistic.json"
                   for k in nsd})
    for k in nsd:
        if "stimulus-000000007665_" in k:
            assign[k] = None        # MOSAIC resolved the conflict: 7665 is test (NOD) so NSD's train trial goes
        if "stimulus-001_" in k:
            assign[k] = "test_artificial.json"
    write_splits(root / "testtrain", assign)
    with pytest.warns(BrainembedWarning, match="fsLR-32k vertex"):
        crowd = read_mosaic(root)
    nsd_s = crowd.subject("MOSAIC-NSD:2")
    assert stimulus_key("NSD", "000000007665")[0] not in nsd_s.image_ids
    assert nsd_s.attrs["excluded_trials"] == 1 and nsd_s.attrs["split"] == "split files"
    assert list(nsd_s.split) == ["train", "test", "test"]
    meta = crowd.images.metadata.set_index(crowd.images.ids)
    assert bool(meta.loc[stimulus_key("NSD", "001")[0], "artificial"])
    assert (nsd_s.voxels["vertex"] == -1).all()
    # leakage across subjects: no image is training for one subject and test for another
    splits = {}
    for s in crowd.subjects:
        for i, sp in zip(s.image_ids, s.split):
            splits.setdefault(int(i), set()).add(sp)
    assert all(len(v) == 1 for v in splits.values())


def test_image_keys():
    assert stimulus_key("BOLD5000", "COCO_train2014_000000000036") == (36, "coco:36")
    assert stimulus_key("BOLD5000", "airplanecabin1")[1] == "scene:airplanecabin1"
    assert stimulus_key("THINGS", "aardvark_01b")[1] == "things:aardvark_01b"
    assert stimulus_key("BMD", "0001")[1] == "mosaic:BMD/0001"
    assert stimulus_key("BMD", "0001")[0] != stimulus_key("HAD", "0001")[0]


def test_streamed_blocks_and_subcortex(two_files):
    root, *_ = two_files
    with pytest.warns(BrainembedWarning), open_mosaic(root, subjects=["NSD:2"], subcortex=True) as source:
        s = source.subjects[0]
        assert s.n_voxels == 91282 and (s.voxels["hemi"] == "none").sum() == 91282 - N_LH - N_RH
        whole = np.concatenate([b[0] for b in s.blocks(rows=3)])
        np.testing.assert_array_equal(whole, s.to_subject().responses)


def _break(root, how):
    import h5py

    path = root / "sub-01_NOD.hdf5"
    if how == "not hdf5":
        path.write_bytes(b"nothing")
    elif how == "no betas":
        with h5py.File(path, "a") as f:
            del f["betas"]
    elif how == "wrong shape":
        with h5py.File(path, "a") as f:
            name = next(iter(f["betas"]))
            del f["betas"][name]
            f["betas"].create_dataset(name, data=np.zeros(59412, np.float32))
    elif how == "bad key":
        with h5py.File(path, "a") as f:
            f["betas"].create_dataset("trial-7", data=np.zeros(91282, np.float32))
    elif how == "other subject":
        with h5py.File(path, "a") as f:
            f["betas"].create_dataset("sub-02_NOD_stimulus-n01_phase-train_rep-0", data=np.zeros(91282, np.float32))
    elif how == "no test":
        with h5py.File(path, "a") as f:
            for name in list(f["betas"]):
                if "_phase-test_" in name:
                    del f["betas"][name]
    elif how == "missing image":
        (root / "stimuli" / "NOD" / "n01443537_2.JPEG").unlink()
    elif how == "nan trial":
        with h5py.File(path, "a") as f:
            name = next(iter(f["betas"]))
            data = f["betas"][name][()]
            data[9] = np.nan
            f["betas"][name][...] = data


@pytest.mark.parametrize("how, message", [
    ("not hdf5", r"sub-01_NOD\.hdf5 is not a readable HDF5 file"),
    ("no betas", r"sub-01_NOD\.hdf5 has no 'betas' group"),
    ("wrong shape", r"sub-01_NOD\.hdf5: betas/sub-01_NOD_stimulus-n01440764_10026_phase-train_rep-0 must have "
                    r"shape \(91282,\)"),
    ("bad key", r"betas/trial-7 is not named like sub-01_NSD_stimulus-<stem>_phase-train_rep-0"),
    ("other subject", r"belongs to sub-02_NOD, not to this file"),
    ("no test", r"MOSAIC subject sub-01_NOD has no test stimuli in its trials' phase"),
    ("missing image", r"missing image file n01443537_2\.\* in .*stimuli \(1 image\(s\) missing\)"),
    ("nan trial", r"sub-01_NOD\.hdf5 \(betas of .*\) has NaN or infinite values in 1 column\(s\) \(first: column 8\)"),
])
def test_bad_input_one_sentence(two_files, how, message):
    root, *_ = two_files
    _break(root, how)
    with pytest.warns(BrainembedWarning), pytest.raises(BrainembedError, match=message):
        read_mosaic(root)


def test_bad_split_files_and_subjects(two_files):
    root, nod, _ = two_files
    split = write_splits(root / "testtrain", {k: "train_naturalistic.json" for k in nod})
    with pytest.warns(BrainembedWarning), pytest.raises(BrainembedError, match="no test stimuli in the split files"):
        read_mosaic(root, subjects=["sub-01_NOD"])
    (split / "test_artificial.json").write_text("{not json")
    with pytest.raises(BrainembedError, match=r"test_artificial\.json is not readable JSON"):
        read_mosaic(root, splits=split)
    with pytest.raises(BrainembedError, match=r"MOSAIC subject 'GOD:3' is not in .*\(found sub-01_NOD, sub-02_NSD\)"):
        read_mosaic(root, subjects=["GOD:3"])


def test_cli_import_and_bad_input(two_files, tmp_path, capsys):
    root, *_ = two_files
    out = tmp_path / "store"
    assert main(["import", "--format", "mosaic", "--src", str(root), "--out", str(out)]) == 0
    assert (out / "crowd.h5").is_file()
    capsys.readouterr()
    _break(root, "no test")
    bad = tmp_path / "bad"
    assert main(["import", "--format", "mosaic", "--src", str(root), "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "error:" in line] == [err[-1]] and "has no test stimuli" in err[-1]
    assert not bad.exists() or not [p for p in bad.rglob("*") if p.is_file()]
