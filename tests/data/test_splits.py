"""The split rule of a crowd of datasets and the leakage check."""

import numpy as np
import pytest

from brainembed.data import check_no_leakage, save_crowd
from brainembed.data.splits import leaking_image, unify_test_images
from brainembed.errors import BrainembedError
from tests.conftest import make_small_crowd


def test_unify_moves_train_rows_of_test_images_only():
    ids = [np.array([1, 2, 3, 4]), np.array([3, 4, 5]), np.array([9, 2])]
    splits = [np.array(["train", "train", "test", "train"]), np.array(["train", "train", "test"]),
              np.array(["train", "test"])]
    new, moved = unify_test_images(ids, splits)
    assert [list(s) for s in new] == [["train", "test", "test", "train"], ["test", "train", "test"],
                                      ["train", "test"]]
    assert moved.tolist() == [1, 1, 0]
    assert leaking_image(ids, new, ["a", "b", "c"]) is None
    assert leaking_image(ids, splits, ["a", "b", "c"]) == (2, "a", "c")   # first in subject, then row order


def test_check_no_leakage_on_crowd_and_store(tmp_path):
    crowd = make_small_crowd()
    check_no_leakage(crowd)                                   # the shared fixture follows the rule
    save_crowd(crowd, tmp_path / "ok")
    check_no_leakage(tmp_path / "ok")
    s = crowd.subjects[1]
    s.split[0] = "test"                                       # image 101 is test for 3T:1, train for 7T:1
    crowd.images.metadata["image_key"] = [f"coco:{i}" for i in range(len(crowd.images))]
    message = (r"image 101 \(coco:1\) of the crowd is a training image of 7T:1 and a test image of 3T:1; an image "
               r"tested for one subject must be tested for every subject that saw it")
    with pytest.raises(BrainembedError, match=message):
        check_no_leakage(crowd)
    save_crowd(crowd, tmp_path / "leaky")
    with pytest.raises(BrainembedError, match="image 101 \\(coco:1\\) of .*leaky/crowd.h5 is a training image"):
        check_no_leakage(tmp_path / "leaky")


def test_training_refuses_a_leaky_store(tmp_path, capsys):
    from brainembed.cli import main

    crowd = make_small_crowd()
    crowd.subjects[1].split[0] = "test"
    save_crowd(crowd, tmp_path / "leaky")
    code = main(["train", "--data", str(tmp_path / "leaky"), "--out", str(tmp_path / "run"), "--encoder",
                 "ube_tiny", "--epochs", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "image 101 of " in err and "is a training image of 7T:1 and a test image of 3T:1" in err
    assert not (tmp_path / "run").exists()
