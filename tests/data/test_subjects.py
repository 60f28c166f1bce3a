"""One subject-resolution rule for the store, runs, analysis and every command (issue 19).

The hand-built crowd has two datasets that both have a subject ``1`` (7T:1
and 3T:1): the full key resolves the same everywhere, and a bare ``1`` is
refused everywhere with the same sentence.
"""

import pandas as pd
import pytest

from brainembed.cli import main
from brainembed.data import CrowdStore, load_crowd, save_crowd
from brainembed.data.subjects import resolve_subject, resolve_subjects, split_key, subject_key
from brainembed.errors import BrainembedError
from tests.conftest import make_small_crowd

AMBIGUOUS = "subject '1' is ambiguous; use one of 7T:1, 3T:1."


def test_keys_are_built_and_split_in_one_place():
    assert subject_key("3T", "1") == "3T:1" and subject_key("3T", 1) == "3T:1"
    table = pd.DataFrame({"dataset": ["7T", "3T"], "subject": ["1", "2"]}, index=[5, 9])
    keys = subject_key(table["dataset"], table["subject"])
    assert keys.tolist() == ["7T:1", "3T:2"] and keys.index.tolist() == [5, 9]
    assert split_key("3T:1") == ("3T", "1") and split_key("nsd:subj:01") == ("nsd", "subj:01")
    with pytest.raises(BrainembedError, match="not a subject key"):
        split_key("1")


def test_the_rule():
    keys = ["7T:1", "7T:2", "3T:1", "4T:3"]
    assert resolve_subjects(["3T:1", "2", "3"], keys) == ["3T:1", "7T:2", "4T:3"]  # keys, or unique bare ids
    assert resolve_subjects(None, keys) == keys and resolve_subjects([], keys) == keys  # none means all
    assert resolve_subject(" 2 ", keys) == "7T:2"
    with pytest.raises(BrainembedError) as err:
        resolve_subjects(["1"], keys)
    assert str(err.value) == AMBIGUOUS
    for names, message in ((["9"], "unknown subject '9'; choose from 7T:1, 7T:2, 3T:1, 4T:3."),
                           (["5T:1"], "unknown subject '5T:1'"),
                           (["2", "7T:2"], "subject '7T:2' is listed twice (as 7T:2).")):
        with pytest.raises(BrainembedError, match=message.replace("(", r"\(").replace(")", r"\)")):
            resolve_subjects(names, keys)


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """A store and a run on a crowd where 7T and 3T both have a subject ``1``."""
    root = tmp_path_factory.mktemp("twins")
    crowd = make_small_crowd(n_images=30, n_voxels=(12, 9, 7), n_train=15, n_test=6)
    assert crowd.keys == ["7T:1", "3T:1", "4T:1"]
    crowd = crowd.select(["7T:1", "3T:1"])
    store = save_crowd(crowd, root / "data")
    run = root / "run"
    assert main(["train", "--data", str(store), "--out", str(run), "--encoder", "ube_tiny", "--epochs", "1",
                 "--batch-size", "8", "--voxels-per-image", "8", "--device", "cpu"]) == 0
    return crowd, store, run


def _refused(call):
    with pytest.raises(BrainembedError) as err:
        call()
    return str(err.value)


def test_store_run_and_analysis_resolve_and_refuse_alike(twins):
    from brainembed.pipeline.common import load_embeddings
    from brainembed.training.run import RunDirectory

    crowd, store_path, run = twins
    run_dir = RunDirectory(run)
    with CrowdStore(store_path) as store:
        assert store.resolve("3T:1") == "3T:1"
        refusals = [_refused(lambda: store.resolve("1"))]
    embeddings = load_embeddings(run, ["3T:1"])
    assert embeddings.keys == ["3T:1"] and len(embeddings) == 9
    assert crowd.subject("3T:1").dataset == "3T" and load_crowd(store_path, ["3T:1"]).keys == ["3T:1"]
    assert run_dir.resolve_subjects(["3T:1"]) == ["3T:1"]
    refusals += [_refused(lambda: crowd.subject("1")),
                 _refused(lambda: load_crowd(store_path, ["1"])),
                 _refused(lambda: run_dir.resolve_subjects(["1"])),
                 _refused(lambda: load_embeddings(run, ["1"])),
                 _refused(lambda: load_embeddings(run).select(subjects=["1"]))]
    assert refusals == [AMBIGUOUS] * len(refusals)


@pytest.mark.parametrize("argv", [
    ["train", "--data", "{store}", "--out", "{tmp}/new", "--subjects", "1"],
    ["evaluate", "--run", "{run}", "--subjects", "1", "--out", "{tmp}/ev"],
    ["transfer", "--run", "{run}", "--subject", "1", "--out", "{tmp}/tr"],
    ["refit", "--run", "{run}", "--out", "{tmp}/refit", "--subjects", "1"],
    ["datasets", "--data", "{store}", "--out", "{tmp}/ds", "--targets", "3T", "--add", "7T", "--exclude", "1"],
    ["flatmap", "--run", "{run}", "--value", "roi", "--subjects", "1", "--out", "{tmp}/map.png"],
    ["cluster", "--run", "{run}", "--subjects", "1", "--k", "2", "--n-top", "0"],
    ["embed-map", "--run", "{run}", "--subjects", "1"],
    ["rsa", "--run", "{run}", "--subjects", "1"],
    ["explore", "--run", "{run}", "--subjects", "1", "--out", "{tmp}/site"],
], ids=lambda argv: argv[0])
def test_every_command_refuses_a_bare_ambiguous_id_in_one_sentence(twins, tmp_path, capsys, argv):
    _, store, run = twins
    argv = [a.format(store=store, run=run, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"brainembed {argv[0]}: error: {AMBIGUOUS}"


def test_commands_resolve_a_full_key_the_same(twins, tmp_path, capsys):
    _, store, run = twins
    assert main(["cluster", "--run", str(run), "--subjects", "3T:1", "--k", "2", "--n-top", "0"]) == 0
    labels = pd.read_csv(run / "clusters" / "k2_3T_1" / "labels.csv", dtype={"subject": str})
    assert set(subject_key(labels["dataset"], labels["subject"])) == {"3T:1"} and len(labels) == 9
    assert main(["flatmap", "--run", str(run), "--value", "roi", "--subjects", "3T:1", "--renderer", "nilearn",
                 "--out", str(tmp_path / "map.png")]) == 0
    assert "flatmap of roi for 3T:1" in capsys.readouterr().out
