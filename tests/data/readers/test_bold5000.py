import nibabel as nib
import numpy as np
import pytest

from brainembed.cli import main
from brainembed.data import CrowdStore
from brainembed.data.preprocessing import ncsnr_from_repeats
from brainembed.data.readers import read_dataset
from brainembed.data.readers._base import key_id
from brainembed.data.readers.bold5000 import read_bold5000, stimulus_key
from brainembed.errors import BrainembedError, BrainembedWarning
from tests.data.readers.formats_singletrial import BOLD5000_NAMES, bold5000_expected, write_bold5000


def _stack(trials, names):
    n_rep = max(len(trials[n]) for n in names)
    out = np.full((len(names), n_rep, trials[names[0]].shape[1]), np.nan)
    for i, n in enumerate(names):
        out[i, :len(trials[n])] = trials[n]
    return out


def test_image_keys_from_released_file_names():
    assert stimulus_key("COCO_train2014_000000396550.jpg") == ("coco:396550", 396550, "coco")
    assert stimulus_key("n01945685_2329.JPEG") == ("imagenet:n01945685_2329", 1945685002329, "imagenet")
    assert stimulus_key("rep_n01440764_10026.JPEG")[0] == "imagenet:n01440764_10026"
    assert stimulus_key("concert5.jpg") == ("scene:concert5", key_id("scene:concert5"), "scene")


def test_exact_layout_written_by_nibabel(tmp_path):
    t = write_bold5000(tmp_path)
    crowd = read_bold5000(tmp_path, images=t["images"], scratch=tmp_path)
    assert crowd.keys == ["BOLD5000:CSI1"]
    s = crowd.subject("CSI1")
    m = t["masks"]
    visual = m["LHEarlyVis"] | m["RHEarlyVis"] | m["LHLO"] | m["RHPPA"]   # LHLO is read as LOC
    trials = bold5000_expected(t, visual)
    by_key = {stimulus_key(n)[0]: n for n in trials}
    keys = sorted(by_key)
    names = [by_key[k] for k in keys]
    reps = _stack(trials, names)
    np.testing.assert_array_equal(s.image_ids, [stimulus_key(n)[1] for n in names])
    assert s.repeats.shape == (8, 3, int(visual.sum()))                 # 2 images once per session, 6 once
    np.testing.assert_allclose(s.repeats, reps, atol=1e-5)
    np.testing.assert_allclose(s.responses, np.nanmean(reps, 1), atol=1e-5)
    assert sorted(np.array(names)[s.split == "test"]) == sorted([BOLD5000_NAMES[0], BOLD5000_NAMES[2]])
    np.testing.assert_allclose(s.voxels["ncsnr"], ncsnr_from_repeats(reps), rtol=1e-4)
    np.testing.assert_array_equal(s.voxels[["x", "y", "z"]].to_numpy().T, np.array(np.nonzero(visual)))
    index = np.nonzero(visual)
    expected_roi = np.where(m["LHEarlyVis"][index] | m["RHEarlyVis"][index], "EarlyVis",
                            np.where(m["LHLO"][index], "LOC", "PPA"))
    assert list(s.voxels["roi"]) == list(expected_roi)
    only_ppa = m["RHPPA"][index] & ~m["LHEarlyVis"][index] & ~m["RHEarlyVis"][index] & ~m["LHLO"][index]
    assert only_ppa.any() and set(s.voxels["hemi"][only_ppa]) == {"rh"}
    assert set(s.voxels["hemi"]) == {"lh", "rh"}
    meta = crowd.images.metadata
    assert list(meta["image_key"]) == keys
    assert set(meta["source"]) == {"coco", "imagenet", "scene"}
    assert crowd.images.pixels.shape[1:] == (224, 224, 3)                # mixed native sizes -> 224
    coco = keys.index("coco:396550")
    assert meta["file"].iloc[coco] == "COCO/COCO_train2014_000000396550.jpg"
    assert not list(tmp_path.glob("brainembed-trials-*"))


def test_brain_mask_session_subset_rep_prefix_and_native_images(tmp_path):
    t = write_bold5000(tmp_path, rep_prefix=True)
    crowd = read_bold5000(tmp_path, images=t["images"], roi="brain", sessions=[1, 3], zscore=False, image_size=16)
    s = crowd.subject("CSI1")
    trials = bold5000_expected(t, t["brain"], sessions=[1, 3], zscore=False)
    names = sorted(trials, key=lambda n: stimulus_key(n)[0])
    np.testing.assert_allclose(s.repeats, _stack(trials, names), atol=1e-5)
    # the repeated images stay the test split even if a subset of sessions shows them fewer times
    assert sorted(np.array(names)[s.split == "test"]) == sorted([BOLD5000_NAMES[0], BOLD5000_NAMES[2]])
    assert crowd.images.pixels.shape[1:] == (16, 16, 3)
    assert s.voxels["roi"].isin(["EarlyVis", "LOC", "PPA", "other"]).all() and (s.voxels["roi"] == "other").any()


def test_nan_voxels_dropped_with_warning(tmp_path):
    t = write_bold5000(tmp_path)
    path = tmp_path / "CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-02.nii.gz"
    vol = t["volumes"][1].copy()
    i, j, k = np.argwhere(t["masks"]["LHEarlyVis"])[0]
    vol[i, j, k, 1] = np.nan
    nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
    with pytest.warns(BrainembedWarning, match="dropped 1 of"):
        s = read_bold5000(tmp_path, images=t["images"], roi="EarlyVis").subject("CSI1")
    assert not np.isnan(s.responses).any()


def test_two_subjects_share_coco_and_imagenet_ids(tmp_path):
    a = write_bold5000(tmp_path, subject=1, seed=1)
    write_bold5000(tmp_path, subject=2, seed=2, images=False)
    crowd = read_dataset("bold5000", tmp_path, images=a["images"], subjects=[2, "CSI1"])
    assert crowd.keys == ["BOLD5000:CSI2", "BOLD5000:CSI1"]
    shared = np.intersect1d(crowd.subject("CSI1").image_ids, crowd.subject("CSI2").image_ids)
    assert 396550 in shared and 1945685002329 in set(crowd.images.ids)


def _break(t, how):
    root = t["root"]
    if how == "missing file":
        (root / "CSI1_imgnames.txt").unlink()
    elif how == "missing session":
        (root / "CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-02.nii.gz").unlink()
    elif how == "wrong shape":
        nib.save(nib.Nifti1Image(np.zeros((4, 5, 2, 5), np.float32), np.eye(4)),
                 root / "CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-02.nii.gz")
    elif how == "wrong count":
        lines = (root / "CSI1_imgnames.txt").read_text().splitlines()
        (root / "CSI1_imgnames.txt").write_text("\n".join(lines[:-1]) + "\n")
    elif how == "mask shape":
        nib.save(nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), np.eye(4)), root / "sub-CSI1/sub-CSI1_mask-RHPPA.nii.gz")
    elif how == "no test":
        lines = [f"scene{k}.jpg" for k in range(12)]
        (root / "CSI1_imgnames.txt").write_text("\n".join(lines) + "\n")
    elif how == "no masks":
        for p in (root / "sub-CSI1").iterdir():
            p.unlink()
    elif how == "missing image":
        next(t["images"].rglob("*.JPEG")).unlink()


@pytest.mark.parametrize("how, message", [
    ("missing file", r"^missing file CSI1_imgnames\.txt under "),
    ("missing session", r"^missing betas file for session 2 of CSI1 under "),
    ("wrong shape", r"ses-02\.nii\.gz has the grid \(4, 5, 2\) but session 1 has \(4, 5, 3\)"),
    ("wrong count", r"CSI1_imgnames\.txt lists 11 trials but the 3 betas files of CSI1 hold 12"),
    ("mask shape", r"sub-CSI1_mask-RHPPA\.nii\.gz has shape \(3, 3, 3\) but the betas have the grid"),
    ("no test", r"shows no image more than once, so CSI1 has no test images"),
    ("no masks", r"^no ROI mask sub-CSI1_mask-<LH\|RH><EarlyVis\|LOC\|OPA\|PPA\|RSC>\.nii\.gz under "),
    ("missing image", r"^missing image file n\d{8}_\d+\.JPEG in "),
])
def test_malformed_inputs_give_one_clear_error(tmp_path, how, message):
    t = write_bold5000(tmp_path)
    _break(t, how)
    with pytest.raises(BrainembedError, match=message) as err:
        read_bold5000(tmp_path, images=t["images"], scratch=tmp_path)
    assert "\n" not in str(err.value)
    assert not list(tmp_path.glob("brainembed-trials-*"))


def test_cli_import_and_bad_input_exit_2_with_nothing_written(tmp_path, capsys):
    t = write_bold5000(tmp_path / "src")
    code = main(["import", "--format", "bold5000", "--src", str(tmp_path / "src"), "--images", str(t["images"]),
                 "--out", str(tmp_path / "out"), "--roi", "EarlyVis,PPA"])
    assert code == 0
    with CrowdStore(tmp_path / "out") as store:
        assert store.summary()[["n_train", "n_test"]].values.tolist() == [[6, 2]]
    capsys.readouterr()
    _break(t, "wrong count")
    code = main(["import", "--format", "bold5000", "--src", str(tmp_path / "src"), "--images", str(t["images"]),
                 "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert "lists 11 trials" in err
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())


def test_streamed_import_equals_reader(tmp_path):
    from brainembed.data import load_crowd
    from brainembed.pipeline.ingest import import_dataset

    t = write_bold5000(tmp_path / "src")
    import_dataset("bold5000", tmp_path / "src", tmp_path / "out", block_rows=3, images=t["images"])
    a = read_bold5000(tmp_path / "src", images=t["images"]).subject("CSI1")
    b = load_crowd(tmp_path / "out").subject("CSI1")
    np.testing.assert_array_equal(a.responses, b.responses)
    np.testing.assert_array_equal(a.repeats, b.repeats)
    np.testing.assert_array_equal(a.image_ids, b.image_ids)
