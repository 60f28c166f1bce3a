"""The exploring commands through the command line: cluster, top-images, embed-map, rsa.

They live in pipeline/cluster.py, top_images.py, embed_map.py and rsa.py over pipeline/common.py.
"""

import numpy as np
import pandas as pd
import pytest

from brainembed.cli import main
from brainembed.data import save_crowd
from tests.conftest import make_small_crowd


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from brainembed.training.config import TrainConfig
    from brainembed.training.loop import train_encoder

    root = tmp_path_factory.mktemp("explore")
    # Subjects 7T:1 and 3T:1 share the id "1": a bare "1" is ambiguous (tests/data/test_subjects.py).
    crowd = make_small_crowd(n_images=40, n_voxels=(20, 16), n_train=20, n_test=10)
    for subject in crowd:
        ffa = subject.voxels["roi"] == "FFA"
        subject.voxels["region"] = np.where(ffa, "FFA", "V1")
        subject.voxels["preferred_category"] = np.where(ffa, "face", "none")
    store = save_crowd(crowd, root / "data")
    train_encoder(crowd, root / "run", encoder="ube_tiny", data_path=str(store), progress=False,
                  training=TrainConfig(epochs=1, batch_size=8, voxels_per_image=16, device="cpu"))
    return root / "run"


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_load_embeddings_matches_the_model_table(run):
    from brainembed.pipeline.common import load_embeddings
    from brainembed.training.run import load_encoder

    emb = load_embeddings(run, ["3T:1", "7T:1"])
    assert emb.keys == ["3T:1", "7T:1"] and len(emb) == 36
    model, _ = load_encoder(run)
    table = model.head.embeddings.weight.detach().numpy()
    assert np.allclose(emb.embeddings[:16], table[20:36]) and np.allclose(emb.embeddings[16:], table[:20])
    assert {"hemi", "vertex", "roi", "region"} <= set(emb.voxels.columns)


def test_cluster_writes_every_table_and_figure(run, capsys):
    from brainembed.analysis import load_clustering

    assert main(["cluster", "--run", str(run), "--subjects", "7T:1", "3T:1", "--k", "3", "--n-top", "5",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    tag = "k3_7T_1-3T_1"
    folder = run / "clusters" / tag
    assert f"written to {folder}" in out and "ARI vs planted regions" in out
    assert (run / "clusters" / "LATEST").read_text().strip() == tag
    for name in ("labels.csv", "sizes.csv", "overlap.csv", "top_images.csv", "activation.csv", "truth.csv",
                 "truth_clusters.csv", "sizes.png", "overlap.png", "top_images.png"):
        assert (folder / name).is_file(), name
    labels = load_clustering(run)
    assert list(labels.columns) == ["dataset", "subject", "voxel", "hemi", "vertex", "roi", "region",
                                    "preferred_category", "cluster"]
    assert len(labels) == 36 and set(labels["cluster"]) == {0, 1, 2}
    assert labels["subject"].tolist() == ["1"] * 36
    top = pd.read_csv(folder / "top_images.csv")
    assert len(top) == 3 * 5 and set(top["category"]) <= {"face", "food"}
    truth = pd.read_csv(folder / "truth.csv")
    assert truth["scope"].tolist() == ["all", "category regions", "early areas"]
    overlap = pd.read_csv(folder / "overlap.csv")
    assert len(overlap) == 3 and ((overlap["jaccard"] >= 0) & (overlap["jaccard"] <= 1)).all()
    # the same clustering again needs --overwrite
    assert main(["cluster", "--run", str(run), "--subjects", "7T:1", "3T:1", "--k", "3", "--n-top", "0"]) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert main(["cluster", "--run", str(run), "--subjects", "7T:1", "3T:1", "--k", "3", "--n-top", "0",
                 "--overwrite"]) == 0


def test_roi_subdivision_and_top_images_over_a_folder(run, tmp_path, capsys):
    from PIL import Image

    assert main(["cluster", "--run", str(run), "--subjects", "7T:1", "--k", "2", "--roi", "FFA", "--n-top", "4",
                 "--device", "cpu"]) == 0
    labels = pd.read_csv(run / "clusters" / "k2_7T_1_roi-FFA" / "labels.csv")
    assert set(labels["roi"]) == {"FFA"} and set(labels["cluster"]) == {0, 1}
    rng = np.random.default_rng(0)
    for category in ("cats", "dogs"):
        (tmp_path / "pool" / category).mkdir(parents=True)
        for i in range(3):
            size = (20 + 5 * i, 16)  # not square: centre-cropped
            Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(
                tmp_path / "pool" / category / f"{i}.png")
    capsys.readouterr()
    assert main(["top-images", "--run", str(run), "--pool", str(tmp_path / "pool"), "--n", "3",
                 "--device", "cpu"]) == 0
    folder = run / "analysis" / "top_images" / "k2_7T_1_roi-FFA_pool"
    assert str(folder) in capsys.readouterr().out
    top = pd.read_csv(folder / "top_images.csv")
    assert len(top) == 2 * 3 and set(top["category"]) <= {"cats", "dogs"}
    assert top["file"].str.endswith(".png").all()
    assert (folder / "top_images.png").is_file() and (folder / "clusters.csv").is_file()
    assert set(top["ranking"]) == {"absolute"}
    assert main(["top-images", "--run", str(run), "--pool", str(tmp_path / "pool"), "--n", "3", "--relative",
                 "--device", "cpu"]) == 0
    relative = pd.read_csv(run / "analysis" / "top_images" / "k2_7T_1_roi-FFA_pool_relative" / "top_images.csv")
    assert set(relative["ranking"]) == {"relative"} and len(relative) == 2 * 3


def test_embed_map_and_rsa(run, capsys):
    assert main(["embed-map", "--run", str(run), "--subjects", "7T:1", "3T:1", "--method", "tsne",
                 "--color", "roi", "subject", "cluster", "--clusters", "k3_7T_1-3T_1"]) == 0
    folder = run / "analysis" / "embed_map" / "tsne_7T_1-3T_1"
    coords = pd.read_csv(folder / "coords.csv")
    assert len(coords) == 36 and {"x", "y", "colour_roi", "colour_subject", "colour_cluster"} <= set(coords.columns)
    assert np.isfinite(coords[["x", "y"]].to_numpy()).all()
    assert (folder / "map.png").is_file()
    assert pd.read_csv(folder / "separation.csv")["color"].tolist() == ["roi", "subject", "cluster"]

    assert main(["rsa", "--run", str(run), "--subjects", "7T:1", "3T:1", "--permutations", "20", "--device",
                 "cpu"]) == 0
    table = pd.read_csv(run / "analysis" / "rsa" / "7T_1-3T_1" / "rsa.csv", dtype={"subject": str})
    assert len(table) == 2 * 2 and set(table["roi"]) == {"FFA", "V1"}
    assert {"embedding_rsa", "embedding_p", "image_rsa", "image_p"} <= set(table.columns)
    assert table["image_rsa"].between(-1, 1).all() and table["image_p"].between(0, 1).all()
    assert (run / "analysis" / "rsa" / "7T_1-3T_1" / "rsa.png").is_file()
    assert (run / "analysis" / "rsa" / "7T_1-3T_1" / "rdms.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["cluster", "--subjects", "9"], "unknown subject '9'"),
    (["cluster", "--subjects", "5T:1"], "unknown subject '5T:1'"),
    (["cluster", "--subjects", "7T:1", "--k", "100"], "k=100 clusters exceed the 20 voxels"),
    (["cluster", "--subjects", "7T:1", "--roi", "PPA"], "ROI 'PPA' has no voxels"),
    (["cluster", "--subjects", "7T:1", "--pool", "/no/such/folder"], "neither 'test', 'all' nor an existing folder"),
    (["embed-map", "--method", "pca"], "unknown map method 'pca'"),
    (["embed-map", "--color", "shoe size"], "unknown colour 'shoe size'"),
    (["top-images", "--clusters", "k99"], "no clustering 'k99'"),
    (["rsa", "--roi", "PPA"], "ROI 'PPA' has no voxels in subject 7T:1"),
])
def test_bad_input_exits_2_with_one_line(run, capsys, argv, message):
    assert main([argv[0], "--run", str(run), *argv[1:]]) == 2
    assert message in _one_line_error(capsys)


def test_not_a_run(tmp_path, capsys):
    assert main(["cluster", "--run", str(tmp_path)]) == 2
    assert "is not a brainembed run" in _one_line_error(capsys)


def test_the_former_explore_module_re_exports_every_command():
    """``brainembed.pipeline.explore`` keeps working for code written before the split by command."""
    from brainembed.pipeline import cluster, common, embed_map, explore, rsa, top_images

    assert explore.cluster_run is cluster.cluster_run and explore.top_images_run is top_images.top_images_run
    assert explore.embed_map_run is embed_map.embed_map_run and explore.rsa_run is rsa.rsa_run
    assert explore.load_embeddings is common.load_embeddings and explore.image_pool is common.image_pool
