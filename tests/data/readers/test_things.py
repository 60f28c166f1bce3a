import numpy as np
import pandas as pd
import pytest
from PIL import Image

from brainembed.cli import main
from brainembed.data import CrowdStore
from brainembed.data.preprocessing import ncsnr_from_repeats
from brainembed.data.readers import read_dataset
from brainembed.data.readers._base import key_id
from brainembed.data.readers.things import read_frame_fixed, read_things
from brainembed.errors import BrainembedError
from tests.data.readers.formats_singletrial import THINGS_ROI_COLUMNS, things_expected, write_things


def _stack(trials, names):
    n_rep = max(len(trials[n]) for n in names)
    out = np.full((len(names), n_rep, trials[names[0]].shape[1]), np.nan)
    for i, n in enumerate(names):
        out[i, :len(trials[n])] = trials[n]
    return out


@pytest.mark.parametrize("string_labels", [False, True])
def test_exact_layout_written_by_pandas(tmp_path, string_labels):
    t = write_things(tmp_path, string_labels=string_labels)
    # the fixture is pandas' own fixed-format HDF5: pandas reads it back, and so does our h5py reader
    frame = pd.read_hdf(t["folder"] / "sub-01_ResponseData.h5", key="ResponseData")
    np.testing.assert_array_equal(frame.drop(columns="voxel_id").to_numpy(), t["values"])
    ours = read_frame_fixed(t["folder"] / "sub-01_ResponseData.h5")
    assert list(ours.columns) == list(frame.columns)
    np.testing.assert_array_equal(ours.to_numpy(), frame.to_numpy())

    crowd = read_things(tmp_path, images=t["images"], scratch=tmp_path)
    s = crowd.subject("1")
    voxels = np.flatnonzero(t["membership"].any(1))                     # default roi="visual": 8 of 10 voxels
    names, trials = things_expected(t, voxels)
    keys = [f"things:{n}" for n in names]
    np.testing.assert_array_equal(s.image_ids, [key_id(k) for k in keys])
    reps = _stack(trials, names)
    assert s.repeats.shape == (8, 3, 8)                                  # 2 test images x 3 sessions
    np.testing.assert_allclose(s.repeats, reps, atol=1e-5)               # z-scored per session, by image
    np.testing.assert_allclose(s.responses, np.nanmean(reps, 1), atol=1e-5)
    assert sorted(np.array(names)[s.split == "test"]) == sorted(t["test"])
    np.testing.assert_allclose(s.voxels["ncsnr"], ncsnr_from_repeats(reps), rtol=1e-4)
    # voxel table: coordinates, ids, ROI label (first visual ROI, hemisphere prefix dropped) and hemisphere
    vox = t["vox"].iloc[voxels]
    np.testing.assert_array_equal(s.voxels[["x", "y", "z"]], vox[["voxel_x", "voxel_y", "voxel_z"]])
    np.testing.assert_array_equal(s.voxels["voxel_id"], voxels)
    np.testing.assert_allclose(s.voxels["nc_testset"], vox["nc_testset"])
    first = [THINGS_ROI_COLUMNS[np.flatnonzero(t["membership"][v])[0]] for v in voxels]
    assert list(s.voxels["roi"]) == [f.replace(" (prf)", "").removeprefix("l").removeprefix("r")
                                     if f[0] in "lr" and f[1].isupper() else f.replace(" (prf)", "")
                                     for f in first]
    assert s.voxels["roi"].iloc[0] == "V1" and "FFA" in set(s.voxels["roi"])
    assert set(s.voxels.loc[s.voxels["roi"] == "FFA", "hemi"]) == {"lh"}
    assert set(s.voxels.loc[s.voxels["roi"] == "PPA", "hemi"]) == {"rh"}
    assert list(s.voxels["glasser"][:3]) == ["V1", "FFC", ""]
    # images: image_key, concept, pixels as PIL decodes the files
    meta = crowd.images.metadata
    assert list(meta["image_key"]) == keys and meta["concept"].iloc[0] == names[0].rsplit("_", 1)[0]
    first_file = t["images"] / names[0].rsplit("_", 1)[0] / f"{names[0]}.jpg"
    np.testing.assert_array_equal(crowd.images.get([key_id(keys[0])])[0], np.asarray(Image.open(first_file)))
    assert not list(tmp_path.glob("brainembed-trials-*"))                # temporary trials removed


def test_roi_all_columns_no_zscore_no_repeats_and_catch_trials(tmp_path):
    t = write_things(tmp_path, catch=True)
    crowd = read_things(tmp_path / "betas_csv", images=t["images"], roi="all", zscore=False, repeats=False)
    s = crowd.subject("1")
    names, trials = things_expected(t, np.arange(10), zscore=False)      # catch trials skipped
    assert s.repeats is None and s.n_voxels == 10
    np.testing.assert_allclose(s.responses, np.stack([trials[n].mean(0) for n in names]), atol=1e-5)
    s2 = read_things(tmp_path, images=t["images"], roi="lFFA, rPPA").subject("1")
    assert set(s2.voxels["roi"]) == {"FFA", "PPA"}


def test_two_subjects_share_image_ids(tmp_path):
    a = write_things(tmp_path, subject="01", seed=1)
    write_things(tmp_path, subject="02", seed=2, images=False)            # same stems, other responses
    crowd = read_dataset("things", tmp_path, images=a["images"], subjects=["sub-02", 1])
    assert crowd.keys == ["THINGS:2", "THINGS:1"]
    np.testing.assert_array_equal(crowd.subject("1").image_ids, crowd.subject("2").image_ids)
    assert len(crowd.images.ids) == 8


def _break(t, how):
    folder = t["folder"]
    if how == "missing file":
        (folder / "sub-01_VoxelMetadata.csv").unlink()
    elif how == "no test":
        stim = pd.read_csv(folder / "sub-01_StimulusMetadata.csv")
        stim["trial_type"] = "train"
        stim.to_csv(folder / "sub-01_StimulusMetadata.csv", index=False)
    elif how == "wrong shape":
        vox = pd.read_csv(folder / "sub-01_VoxelMetadata.csv")
        vox.iloc[:-1].to_csv(folder / "sub-01_VoxelMetadata.csv", index=False)
    elif how == "missing trials":
        frame = pd.read_hdf(folder / "sub-01_ResponseData.h5")
        frame.iloc[:, :-1].to_hdf(folder / "sub-01_ResponseData.h5", key="ResponseData")
    elif how == "table format":
        frame = pd.read_hdf(folder / "sub-01_ResponseData.h5")
        frame.columns = [str(c) for c in frame.columns]
        frame.to_hdf(folder / "sub-01_ResponseData.h5", key="ResponseData", format="table")
    elif how == "missing image":
        next(t["images"].rglob("*.jpg")).unlink()
    elif how == "both splits":
        stim = pd.read_csv(folder / "sub-01_StimulusMetadata.csv")
        stim.loc[stim["trial_type"] == "train", "stimulus"] = t["test"][0] + ".jpg"
        stim.to_csv(folder / "sub-01_StimulusMetadata.csv", index=False)


@pytest.mark.filterwarnings("ignore::pandas.errors.PerformanceWarning")
@pytest.mark.parametrize("how, message", [
    ("missing file", r"^missing file .*sub-01_VoxelMetadata\.csv \(THINGS voxel metadata\)\.$"),
    ("no test", r"sub-01_StimulusMetadata\.csv lists no test trials"),
    ("wrong shape", r"sub-01_ResponseData\.h5 has 10 voxel rows but sub-01_VoxelMetadata\.csv lists 9 voxels"),
    ("missing trials", r"has 11 trial columns but sub-01_StimulusMetadata\.csv lists 12 trials"),
    ("table format", r"'ResponseData' is stored in pandas 'frame_table' format"),
    ("missing image", r"^missing image file \w+_\d+s\.jpg in "),
    ("both splits", r"image \w+_\d+s is listed as both a train and a test trial"),
])
def test_malformed_inputs_give_one_clear_error(tmp_path, how, message):
    t = write_things(tmp_path)
    _break(t, how)
    with pytest.raises(BrainembedError, match=message) as err:
        read_things(tmp_path, images=t["images"], scratch=tmp_path)
    assert "\n" not in str(err.value)
    assert not list(tmp_path.glob("brainembed-trials-*"))


def test_cli_import_and_bad_input_exit_2_with_nothing_written(tmp_path, capsys):
    t = write_things(tmp_path / "src")
    code = main(["import", "--format", "things", "--src", str(tmp_path / "src"), "--images", str(t["images"]),
                 "--out", str(tmp_path / "out")])
    assert code == 0
    with CrowdStore(tmp_path / "out") as store:
        assert store.summary()[["n_train", "n_test"]].values.tolist() == [[6, 2]]
    capsys.readouterr()
    _break(t, "no test")
    code = main(["import", "--format", "things", "--src", str(tmp_path / "src"), "--images", str(t["images"]),
                 "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert "lists no test trials" in err
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())


def test_streamed_import_equals_reader(tmp_path):
    from brainembed.data import load_crowd
    from brainembed.pipeline.ingest import import_dataset

    t = write_things(tmp_path / "src")
    import_dataset("things", tmp_path / "src", tmp_path / "out", block_rows=3, images=t["images"])
    crowd, loaded = read_things(tmp_path / "src", images=t["images"]), load_crowd(tmp_path / "out")
    a, b = crowd.subject("1"), loaded.subject("1")
    np.testing.assert_array_equal(a.responses, b.responses)
    np.testing.assert_array_equal(a.repeats, b.repeats)
    np.testing.assert_array_equal(a.split, b.split)


def test_column_labels_admit_numpy_pickles_only(tmp_path):
    import pickle

    import h5py

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    t = write_things(tmp_path)
    path = t["folder"] / "sub-01_ResponseData.h5"
    with h5py.File(path, "r+") as f:
        node = f["ResponseData/axis0"]
        assert node.dtype.kind == "O"                                    # int labels: pandas pickled them
        node[0] = np.frombuffer(pickle.dumps(np.array([Evil()], dtype=object)), dtype=np.uint8)
    with pytest.raises(BrainembedError, match=r"column labels /ResponseData/axis0 could not be read .*not allowed"):
        read_things(tmp_path, images=t["images"])
