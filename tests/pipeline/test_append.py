"""Several datasets in one store: shared images are one image, appends are atomic, no split leakage."""

import json

import numpy as np
import pytest
from PIL import Image

from brainembed.cli import main
from brainembed.data import CrowdStore, check_no_leakage, load_crowd, save_crowd
from brainembed.data.readers import read_dataset
from brainembed.pipeline.ingest import import_dataset
from tests.conftest import make_small_crowd
from tests.data.readers.formats import (
    write_algonauts_subject,
    write_digits,
    write_nsd,
    write_nsd_stim_info,
    write_vim1,
)

CSV = "nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv"


@pytest.fixture
def crowd_of_two(tmp_path):
    """NSD subject 1 (native release) in a store, and an Algonauts subject 2 sharing three of its images.

    Splits conflict: NSD tests ``shared`` (its shared1000) and trains ``a``; Algonauts tests ``a`` and
    trains ``shared[0]``. The Algonauts PNGs of shared images hold NSD's own pixels (PNG is lossless).
    """
    truth = write_nsd(tmp_path / "nsd", n_brick=40)
    coco = write_nsd_stim_info(tmp_path / "nsd", n_brick=40)
    import_dataset("nsd", tmp_path / "nsd", tmp_path / "store", trials_per_session=12)
    nsd_ids = np.unique(truth["trial_images"])
    train = np.setdiff1d(nsd_ids, truth["shared"])
    fresh = np.setdiff1d(np.arange(40), nsd_ids)[:2]
    alg_ids = [int(train[0]), int(train[1]), int(truth["shared"][0]), int(fresh[0]), int(fresh[1])]
    t = write_algonauts_subject(tmp_path / "alg", 2, alg_ids, image_size=(10, 10), seed=3)
    for k, i in enumerate(alg_ids, start=1):
        if i in nsd_ids:
            Image.fromarray(truth["brick"][i]).save(t["folder"] / "training_split/training_images" /
                                                    f"train-{k:04d}_nsd-{i:05d}.png")
    return {"root": tmp_path, "brick": truth["brick"], "coco": coco, "nsd_ids": nsd_ids, "shared": truth["shared"],
            "alg_ids": np.array(alg_ids), "a": int(train[0]), "fresh": fresh,
            "argv": ["import", "--format", "algonauts", "--src", str(tmp_path / "alg"), "--out",
                     str(tmp_path / "store"), "--append", "--test-ids", f"{int(train[0])},{int(fresh[0])}",
                     "--stim-info", str(tmp_path / CSV)]}


def test_append_shares_images_and_applies_the_split_rule(crowd_of_two, capsys):
    c = crowd_of_two
    root = c["root"]
    assert main(c["argv"]) == 0
    out = capsys.readouterr().out
    assert "moved 2 rows of 2 subject(s) from training to test" in out and "NSD:1 1" in out and "NSD:2 1" in out
    assert "store added to" in out
    assert "NaN" not in out                          # each dataset's own columns are blank for the other's subjects
    crowd = load_crowd(root / "store")
    assert crowd.keys == ["NSD:1", "NSD:2"]
    # image identity: every COCO image once, the shared ones under NSD's ids with NSD's pixels
    keys = crowd.images.metadata["image_key"]
    assert keys.is_unique and len(crowd.images) == len(c["nsd_ids"]) + 2
    assert sorted(keys) == sorted(f"coco:{c['coco'][i]}" for i in np.union1d(c["nsd_ids"], c["alg_ids"]))
    nsd, alg = crowd.subject("NSD:1"), crowd.subject("NSD:2")
    np.testing.assert_array_equal(alg.image_ids, c["alg_ids"])            # shared: NSD's ids; new: free, kept
    both = np.intersect1d(nsd.image_ids, alg.image_ids)
    assert both.size == 3
    np.testing.assert_array_equal(crowd.images.get(both), c["brick"][both])
    reader = read_dataset("algonauts", root / "alg", test_ids=[c["a"], int(c["fresh"][0])],
                          stim_info=root / CSV)
    np.testing.assert_array_equal(reader.images.get(both), crowd.images.get(both))  # identical pixels
    np.testing.assert_array_equal(alg.responses, reader.subjects[0].responses)
    # no leakage: a test image of either subject is a test image of both
    test = set(nsd.image_ids[nsd.split == "test"]) | set(alg.image_ids[alg.split == "test"])
    for s in (nsd, alg):
        assert not set(s.image_ids[s.split == "train"]) & test
    assert test == set(c["shared"]) | {c["a"], int(c["fresh"][0])}
    assert nsd.split[list(nsd.image_ids).index(c["a"])] == "test"                    # old subject rewritten
    assert alg.split[list(alg.image_ids).index(int(c["shared"][0]))] == "test"
    check_no_leakage(root / "store")
    record = json.loads((root / "store/import.json").read_text())
    assert record["format"] == "nsd" and record["appended"][0]["format"] == "algonauts"
    with CrowdStore(root / "store") as store:
        assert [i["format"] for i in store.attrs["imports"]] == ["nsd", "algonauts"]


def test_failed_or_refused_appends_leave_the_store_byte_identical(crowd_of_two, capsys, tmp_path):
    c = crowd_of_two
    root = c["root"]
    store = root / "store/crowd.h5"

    def unchanged(argv, message):
        before, record = store.read_bytes(), (root / "store/import.json").read_bytes()
        assert main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.count("error:") == 1 and message in err, err
        assert store.read_bytes() == before and (root / "store/import.json").read_bytes() == record
        assert sorted(p.name for p in store.parent.iterdir()) == ["crowd.h5", "import.json"]

    bad = write_algonauts_subject(root / "bad", 3, [1, 2, 3], image_size=(10, 10), seed=4)
    fmri = bad["folder"] / "training_split/training_fmri/rh_training_fmri.npy"
    values = np.load(fmri)
    values[2, 1] = np.inf
    np.save(fmri, values)
    # fails while writing, after the store was copied: the temporary copy goes, the store stays
    unchanged(["import", "--format", "algonauts", "--src", root / "bad", "--out", root / "store", "--append",
               "--test-ids", "1"], "rh_training_fmri.npy has NaN or infinite values")
    assert main(c["argv"]) == 0
    capsys.readouterr()
    unchanged(c["argv"], "subject NSD:2 is already in")                      # a subject key clash
    write_digits(root / "d.mat")
    unchanged(["import", "--format", "digits", "--src", root / "d.mat", "--out", root / "store", "--append"],
              "the digits images are 28x28 pixels but the store's are 10x10; import them with --image-size 10")
    unchanged(c["argv"] + ["--overwrite"], "--append adds to a store and --overwrite replaces it")


def test_append_refuses_what_is_not_a_keyed_store(tmp_path, capsys):
    write_digits(tmp_path / "d.mat")
    base = ["import", "--format", "digits", "--src", str(tmp_path / "d.mat"), "--append", "--out"]
    save_crowd(make_small_crowd(), tmp_path / "legacy")                        # written without image keys
    (tmp_path / "text.h5").write_text("not a store")
    for out, message in ((tmp_path / "absent", "no crowd store at"), (tmp_path / "text.h5", "not a readable HDF5"),
                         (tmp_path / "legacy", "was written without image keys")):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        assert main(base + [str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("error:") == 1
        assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_colliding_ids_are_renumbered_and_rows_follow(tmp_path):
    write_digits(tmp_path / "d.mat")                                            # ids 0..7
    write_vim1(tmp_path / "vim1", nan_voxels=())                                # ids 0..11, 16 px
    import_dataset("digits", tmp_path / "d.mat", tmp_path / "s", image_size=16)
    result = import_dataset("vim1", tmp_path / "vim1", tmp_path / "s", append=True)
    assert result["moved"]["moved_to_test"].tolist() == [0, 0, 0]
    crowd = load_crowd(tmp_path / "s")
    assert crowd.keys == ["digit69:1", "vim1:1", "vim1:2"]
    reader = read_dataset("vim1", tmp_path / "vim1")
    for s, r in zip(crowd.subjects[1:], reader.subjects):
        np.testing.assert_array_equal(s.image_ids, r.image_ids + 8)            # numbered on after digits' 0..7
        np.testing.assert_array_equal(crowd.images.get(s.image_ids), reader.images.get(r.image_ids))
        np.testing.assert_array_equal(s.responses, r.responses)
        np.testing.assert_array_equal(s.split, r.split)
    digits = read_dataset("digits", tmp_path / "d.mat", image_size=16)
    np.testing.assert_array_equal(crowd.images.get(np.arange(8)), digits.images.get(np.arange(8)))
    assert list(crowd.images.metadata["image_key"]) == [f"digits:{i}" for i in range(8)] + \
        [f"vim1:{i}" for i in range(12)]


def test_a_newly_registered_reader_joins_an_nsd_store_by_coco_id(tmp_path, monkeypatch, capsys):
    """A reader registered once (tests/data/readers/lab_reader.py) works through the CLI; its COCO images meet NSD's."""
    from brainembed.data.readers import _REGISTRY, FormatSpec, ReaderOption
    from tests.data.readers.lab_reader import write_lab

    monkeypatch.setitem(_REGISTRY, "lab", FormatSpec("lab", "tests.data.readers.lab_reader", "open_lab",
                                                     "a lab's .npz files", options=(ReaderOption("roi", "ROI"),)))
    truth = write_nsd(tmp_path / "nsd", n_brick=40)
    coco = write_nsd_stim_info(tmp_path / "nsd", n_brick=40)
    import_dataset("nsd", tmp_path / "nsd", tmp_path / "store", trials_per_session=12)
    nsd_ids = np.unique(truth["trial_images"])
    a, b = [int(i) for i in np.setdiff1d(nsd_ids, truth["shared"])[:2]]        # NSD training images
    pixels = np.stack([truth["brick"][a], truth["brick"][b], np.zeros((10, 10, 3), np.uint8)])
    lab = write_lab(tmp_path / "lab", [coco[a], coco[b], 999999], {"7": ([0, 1, 2], ["test", "train", "train"])},
                    pixels=pixels)
    assert main(["import", "--format", "lab", "--src", str(tmp_path / "lab"), "--out", str(tmp_path / "store"),
                 "--append", "--roi", "V1"]) == 0
    assert "moved 1 rows of 1 subject(s)" in capsys.readouterr().out          # NSD:1's row of image a
    crowd = load_crowd(tmp_path / "store")
    s = crowd.subject("LAB:7")
    np.testing.assert_array_equal(s.image_ids[:2], [a, b])                     # NSD's ids: one image each
    assert len(crowd.images) == len(nsd_ids) + 1
    np.testing.assert_array_equal(crowd.images.get([a, b]), truth["brick"][[a, b]])
    np.testing.assert_array_equal(s.responses, lab["7"][:, ::2].astype(np.float32))   # --roi V1: even voxels
    nsd = crowd.subject("NSD:1")
    assert nsd.split[list(nsd.image_ids).index(a)] == "test"
    check_no_leakage(crowd)
    assert main(["import", "--format", "lab", "--src", str(tmp_path / "lab"), "--out", str(tmp_path / "x"),
                 "--snr-top-k", "3"]) == 2
    assert "does not take that option (--snr-top-k; it takes --image-size, --dataset, --roi)" in \
        capsys.readouterr().err
