"""The NOD reader on CIFTI-2 files written by nibabel in the dataset's released layout (nod_fixtures.py)."""

import numpy as np
import pytest

from brainembed.cli import main
from brainembed.data.readers import read_dataset
from brainembed.data.readers.nod import open_nod, read_nod, stimulus_key
from brainembed.errors import BrainembedError
from tests.data.readers.nod_fixtures import nod_expected, write_dscalar, write_nod_subject


@pytest.fixture
def two_subjects(tmp_path):
    t1 = write_nod_subject(tmp_path, 1, seed=1)
    # subject 2: maps named 1, 2, ... so the events name the stimuli (COCO in 'condition', with a blank trial)
    t2 = write_nod_subject(tmp_path, 2, seed=2, imagenet_runs=(("ses-imagenet01", 1, 3),), map_names=False,
                           extra_volume=True)
    return tmp_path, t1, t2


def _stem_to_key(stem):
    return f"imagenet:{stem}" if stem.startswith("n") else f"coco:{int(stem)}"


def test_planted_betas_read_back_exactly(two_subjects):
    root, t1, t2 = two_subjects
    crowd = read_nod(root, repeats=True)
    assert crowd.keys == ["NOD:1", "NOD:2"]
    for key, truth in (("1", t1), ("2", t2)):
        s = crowd.subject(key)
        order, trials = nod_expected(truth)
        train = [st for st in order if st.startswith("n")]
        test = sorted(st for st in order if not st.startswith("n"))
        expected_ids = [stimulus_key(st)[0] for st in train + test]
        np.testing.assert_array_equal(s.image_ids, expected_ids)        # ImageNet by first sight, then COCO
        assert list(s.split) == ["train"] * len(train) + ["test"] * len(test)
        np.testing.assert_allclose(s.responses, np.stack([trials[st].mean(0) for st in train + test]), atol=1e-5)
        for row, st in enumerate(train + test):                       # single trials kept, NaN-padded
            n = len(trials[st])
            np.testing.assert_allclose(s.repeats[row, :n], trials[st], atol=1e-5)
            assert np.isnan(s.repeats[row, n:]).all()
        assert s.repeats.shape[1] == 3                                 # COCO images: once in each of 3 runs
        # the vertex table: fsLR-32k vertex indices per hemisphere, cortex only (the volume voxel is left out)
        assert list(s.voxels["hemi"]) == ["lh"] * 4 + ["rh"] * 3
        np.testing.assert_array_equal(s.voxels["vertex"], np.r_[truth["lh"], truth["rh"]])
        assert set(s.voxels["space"]) == {"fsLR32k"} and s.field_strength == 3.0
    meta = crowd.images.metadata.set_index(crowd.images.ids)
    assert meta.loc[7665, "image_key"] == "coco:7665" and bool(meta.loc[7665, "shared"])
    stem = t1["runs"][0]["stems"][0]
    assert meta.loc[stimulus_key(stem)[0], "image_key"] == _stem_to_key(stem)
    assert crowd.images.pixels.shape == (len(crowd.images.ids), 20, 16, 3)    # small images: native size


def test_raw_betas_without_zscoring_and_default_no_repeats(two_subjects):
    root, t1, _ = two_subjects
    crowd = read_dataset("nod", root, subjects=["sub-01"], zscore=False)
    s = crowd.subject("1")
    order, trials = nod_expected(t1, zscore=False)
    coco = sorted(st for st in order if not st.startswith("n"))
    np.testing.assert_allclose(s.responses[s.split == "test"], np.stack([trials[c].mean(0) for c in coco]),
                               atol=1e-5)
    assert s.repeats is None


def test_stimulus_keys():
    assert stimulus_key("n01440764/n01440764_10026.JPEG") == (1440764010026, "imagenet:n01440764_10026")
    assert stimulus_key("stimuli/coco/000000007665.jpg") == (7665, "coco:7665")
    assert stimulus_key("COCO_train2014_000000000036") == (36, "coco:36")
    assert stimulus_key("blank") is None


def test_test_images_option_for_a_subject_without_coco(tmp_path):
    t = write_nod_subject(tmp_path, 12, coco_runs=0, seed=5)
    with pytest.raises(BrainembedError, match=r"NOD subject 12 has no test images: .*no COCO image"):
        read_nod(tmp_path)
    held = t["runs"][1]["stems"][:2]
    crowd = read_nod(tmp_path, test_images=held)
    s = crowd.subject("12")
    assert sorted(s.image_ids[s.split == "test"]) == sorted(stimulus_key(h)[0] for h in held)


def test_blocks_stream_like_the_whole(two_subjects):
    root, *_ = two_subjects
    with open_nod(root, subjects=[1]) as source:
        s = source.subjects[0]
        whole = np.concatenate([b[0] for b in s.blocks(rows=2)])
        np.testing.assert_allclose(whole, s.to_subject().responses)


def _break(root, how):
    res = root / "derivatives/ciftify/sub-01/results"
    run = res / "ses-imagenet01_task-imagenet_run-2" / "ses-imagenet01_task-imagenet_run-2_beta.dscalar.nii"
    if how == "missing beta file":
        run.unlink()
    elif how == "not cifti":
        run.write_bytes(b"not a nifti file")
    elif how in ("wrong mesh", "other vertices"):
        import nibabel as nib

        names = list(nib.load(str(run)).header.get_axis(0).name)
        write_dscalar(run, np.zeros((4, 7)), names, (3, 40, 1200, 5000), (0, 77, 4000),
                      n_vertices=10242 if how == "wrong mesh" else 32492)
    elif how == "nan":
        import nibabel as nib

        img = nib.load(str(run))
        data = np.asarray(img.dataobj).copy()
        data[:, 2] = np.nan
        nib.save(nib.Cifti2Image(data, img.header), str(run))
    elif how == "missing image":
        next((root / "stimuli" / "coco").glob("*.jpg")).unlink()
    elif how == "events disagree":
        ev = root / "sub-01/ses-imagenet01/func/sub-01_ses-imagenet01_task-imagenet_run-02_events.tsv"
        import pandas as pd

        table = pd.read_csv(ev, sep="\t")
        table.loc[0, "stim_file"] = "n09999999/n09999999_1.JPEG"
        table.to_csv(ev, sep="\t", index=False)
    elif how == "unnamed maps without events":
        import nibabel as nib

        img = nib.load(str(run))
        bm = img.header.get_axis(1)
        write_dscalar(run, np.asarray(img.dataobj), ["a", "b", "c", "d"], bm.vertex[:4], bm.vertex[4:])
        (root / "sub-01/ses-imagenet01/func/sub-01_ses-imagenet01_task-imagenet_run-02_events.tsv").unlink()


@pytest.mark.parametrize("how, message", [
    ("missing beta file", r"missing file .*ses-imagenet01_task-imagenet_run-2_beta\.dscalar\.nii"),
    ("not cifti", r"run-2_beta\.dscalar\.nii is not a readable CIFTI-2 dscalar file"),
    ("wrong mesh", r"run-2_beta\.dscalar\.nii: CIFTI_STRUCTURE_CORTEX_LEFT has 10242 vertices, not the 32492"),
    ("other vertices", r"run-2_beta\.dscalar\.nii has other surface vertices than"),
    ("nan", r"run-2_beta\.dscalar\.nii has NaN or infinite values in 1 column\(s\) \(first: column 2\)"),
    ("missing image", r"missing image file 0000000\d+\.\* in .*stimuli \(1 image\(s\) missing\)"),
    ("events disagree", r"run-02_events\.tsv names other stimuli than the beta maps"),
    ("unnamed maps without events", r"missing file .*run-02_events\.tsv \(the run's events\)"),
])
def test_bad_input_one_sentence(two_subjects, how, message):
    root, *_ = two_subjects
    _break(root, how)
    with pytest.raises(BrainembedError, match=message):
        read_nod(root)


def test_unknown_subject_and_missing_root(two_subjects, tmp_path):
    root, *_ = two_subjects
    with pytest.raises(BrainembedError, match=r"subject 7 has no results in .*\(found sub-01, sub-02\)"):
        read_nod(root, subjects=[7])
    with pytest.raises(BrainembedError, match=r"missing folder .*derivatives/ciftify"):
        read_nod(tmp_path / "sub-01")


def test_cli_import_and_bad_input_exit_2_nothing_written(two_subjects, tmp_path, capsys):
    root, *_ = two_subjects
    out = tmp_path / "store"
    assert main(["import", "--format", "nod", "--src", str(root), "--out", str(out)]) == 0
    assert (out / "crowd.h5").is_file()
    capsys.readouterr()
    (root / "derivatives/ciftify/sub-02/results/ses-coco_task-coco_run-2/ses-coco_task-coco_run-2_beta.dscalar.nii"
     ).unlink()
    bad = tmp_path / "bad"
    assert main(["import", "--format", "nod", "--src", str(root), "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing file" in err and "ses-coco_task-coco_run-2_beta.dscalar.nii" in err and len(err.splitlines()) == 1
    assert not bad.exists() or not [p for p in bad.rglob("*") if p.is_file()]
    # a subject without test images: one sentence, exit 2, nothing written
    only = tmp_path / "only"
    write_nod_subject(only, 11, coco_runs=0, seed=9)
    assert main(["import", "--format", "nod", "--src", str(only), "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "NOD subject 11 has no test images" in err and len(err.splitlines()) == 1
    assert not bad.exists() or not [p for p in bad.rglob("*") if p.is_file()]
