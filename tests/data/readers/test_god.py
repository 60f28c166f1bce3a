import h5py
import numpy as np
import pytest

from brainembed.data.readers import read_dataset
from brainembed.data.readers.god import label_to_id, read_bdata, read_god
from brainembed.errors import BrainembedError
from tests.data.readers.formats import write_god


def _zscore_by_run(x, keys):
    out = np.empty_like(x)
    for k in np.unique(keys):
        m = keys == k
        out[m] = (x[m] - x[m].mean(0)) / x[m].std(0)
    return out


@pytest.mark.parametrize("old_keys", [False, True])
def test_exact_layout(tmp_path, old_keys):
    t = write_god(tmp_path, old_keys=old_keys)
    crowd = read_god(tmp_path, images=t["images"])
    s = crowd.subject("1")
    rows = t["rows"]
    keep = rows[:, 0] < 3                                               # imagery (DataType 3) ignored
    z = _zscore_by_run(t["voxels"][keep], rows[keep, 0] * 100 + rows[keep, 1])
    ids = label_to_id(rows[keep, 2])
    train = rows[keep, 0] == 1
    order = np.argsort(ids[train])
    np.testing.assert_array_equal(s.image_ids[s.split == "train"], ids[train][order])
    np.testing.assert_allclose(s.responses[s.split == "train"], z[train][order], atol=1e-5)
    test_ids = np.unique(ids[~train])
    expected = np.stack([z[~train][ids[~train] == i].mean(0) for i in test_ids])
    np.testing.assert_allclose(s.responses[s.split == "test"], expected, atol=1e-5)
    assert s.repeats.shape == (8, 3, 9)                                  # 35 in GOD; 3 here
    assert np.isnan(s.repeats[:6, 1:]).all()                             # single training trials
    assert list(s.voxels["roi"][:3]) == ["V1"] * 3 and list(s.voxels["roi"][-2:]) == ["FFA"] * 2
    np.testing.assert_allclose(s.voxels["x"], t["x"])
    assert crowd.images.pixels.shape == (8, 224, 224, 3)                 # ImageNet sizes vary: 224 px
    stem = crowd.images.metadata["file"].iloc[0]
    assert stem.endswith(".JPEG") and crowd.images.metadata["synset"].iloc[0].startswith("n")


def test_fixture_is_bdpy_bdata_and_read_bdata_agrees_with_bdpy(tmp_path):
    from bdpy.bdata import BData

    t = write_god(tmp_path)
    bdata = BData(str(t["path"]))
    data, meta = read_bdata(t["path"])
    np.testing.assert_array_equal(data, bdata.dataset)
    assert list(meta) == list(bdata.metadata.key)
    for key in ("VoxelData", "ROI_VC", "voxel_x", "DataType", "stimulus_id"):
        np.testing.assert_array_equal(meta[key], bdata.get_metadata(key))
    np.testing.assert_array_equal(bdata.select("ROI_VC"), t["voxels"])   # bdpy's own selection: the planted voxels
    np.testing.assert_array_equal(bdata.select("stimulus_id").ravel(), t["rows"][:, 2])


def test_label_ids_round_trip():
    assert label_to_id(1518878.005958) == 1518878005958
    from brainembed.data.readers.god import id_to_filename_stem

    assert id_to_filename_stem(1518878005958) == "n01518878_5958"


def test_image_id_csv_and_dispatcher(tmp_path):
    t = write_god(tmp_path, label_key="Label")
    first = sorted(t["images"].rglob("*.JPEG"))[0]
    renamed = first.with_name("renamed.JPEG")
    first.rename(renamed)
    syn, num = first.stem[1:].split("_")
    (t["images"] / "imageID_training.csv").write_text(f"{int(syn)}.{int(num):06d},renamed.JPEG\n")
    crowd = read_dataset("god", tmp_path / "Subject1.h5", images=t["images"], roi="VoxelData")
    assert crowd.subject("1").n_voxels == 11


def _break(t, how):
    path = t["path"]
    if how == "missing image":
        next(t["images"].rglob("*.JPEG")).unlink()
    elif how in ("wrong key", "wrong shape", "nan column"):
        with h5py.File(path, "r+") as f:
            if how == "wrong key":
                keys = [k.decode() for k in f["metadata/key"][()]]
                keys[keys.index("DataType")] = "Datatype"
                del f["metadata/key"]
                f.create_dataset("metadata/key", data=np.array([k.encode() for k in keys]))
            elif how == "wrong shape":
                v = f["metadata/value"][()]
                del f["metadata/value"]
                f.create_dataset("metadata/value", data=v[:, :-1])
            else:
                d = f["dataset"][()]
                d[2, 4] = np.nan
                f["dataset"][...] = d
    elif how == "not bdata":
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=np.zeros((2, 2)))


@pytest.mark.parametrize("how, message", [
    ("missing image", r"missing image file n\d{8}_\d+\.\* .* in "),
    ("wrong key", r"Subject1\.h5 has no metadata key 'DataType'"),
    ("wrong shape", r"'metadata/value' must have shape \(\d+, 14\) \(keys x columns\), got \(\d+, 13\)"),
    ("nan column", r"Subject1\.h5 \(ROI_VC columns\) has NaN or infinite values in 1 column\(s\) \(first: column 4\)"),
    ("not bdata", r"Subject1\.h5 is not a BData file"),
])
def test_malformed_inputs_give_one_clear_error(tmp_path, how, message):
    t = write_god(tmp_path)
    _break(t, how)
    with pytest.raises(BrainembedError, match=message):
        read_god(tmp_path, images=t["images"])


def test_missing_subject_file_and_images_argument(tmp_path):
    t = write_god(tmp_path)
    with pytest.raises(BrainembedError, match="has no file Subject3.h5"):
        read_god(tmp_path, images=t["images"], subjects=[3])
    with pytest.raises(BrainembedError, match="needs the folder of stimulus images"):
        read_god(tmp_path, images=None)
    data, meta = read_bdata(t["path"])
    assert data.shape == (len(t["rows"]), 14) and "ROI_VC" in meta
