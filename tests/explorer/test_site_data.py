"""The explorer page without a browser: what it embeds equals the clustering's CSV tables."""

import numpy as np
import pandas as pd
import pytest

from brainembed.cli import main
from brainembed.data.subjects import subject_key
from brainembed.errors import BrainembedError
from tests.explorer.conftest import TAG, cluster_tables


@pytest.fixture(scope="module")
def embedded(site):
    from brainembed.explorer import read_site_data

    return read_site_data(site["path"])


def test_page_is_one_self_contained_file(site, embedded):
    page = site["path"].read_text(encoding="utf-8")
    assert site["path"].name == "index.html" and site["size_bytes"] == site["path"].stat().st_size
    assert list(site["path"].parent.iterdir()) == [site["path"]]
    # nothing is fetched: no external script, style sheet or request
    for fetch in ("<script src", "<link ", "fetch(", "XMLHttpRequest", "http://", "https://"):
        assert fetch not in page, fetch
    assert embedded == site["data"]
    assert embedded["meta"]["tag"] == TAG and embedded["meta"]["subjects"] == ["7T:1", "3T:1"]
    assert site["size_bytes"] < 2_000_000


def test_cluster_numbers_equal_the_csv_tables(clustered_run, embedded):
    tables = cluster_tables(clustered_run)
    clusters = {c["id"]: c for c in embedded["clusters"]}
    assert sorted(clusters) == sorted(tables["labels"]["cluster"].unique()) == [0, 1, 2]
    for c, entry in clusters.items():
        sizes = tables["sizes"][tables["sizes"]["cluster"] == c]
        got = pd.DataFrame(entry["sizes"])
        assert got["subject"].tolist() == subject_key(sizes["dataset"], sizes["subject"]).tolist()
        for column in ("n_voxels", "cluster_size", "share_of_cluster", "share_of_subject"):
            assert got[column].tolist() == sizes[column].tolist(), column
        overlap = tables["overlap"][tables["overlap"]["cluster"] == c].drop(columns="cluster")
        got = pd.DataFrame(entry["overlap"])[list(overlap.columns)]
        pd.testing.assert_frame_equal(got.reset_index(drop=True), overlap.reset_index(drop=True), check_dtype=False)
        top = tables["top_images"][tables["top_images"]["cluster"] == c]
        got = pd.DataFrame(entry["top"])
        assert got["image_id"].tolist() == top["image_id"].tolist() and len(got) == 5
        assert got["activation"].tolist() == top["activation"].tolist()
        assert got["category"].tolist() == top["category"].tolist()
        truth = tables["truth_clusters"][tables["truth_clusters"]["cluster"] == c].iloc[0]
        for key, value in entry["truth"].items():
            assert value == (None if pd.isna(truth[key]) else truth[key]), key  # NaN is written as null
        labels = tables["labels"][tables["labels"]["cluster"] == c]
        assert entry["n_voxels"] == len(labels)
        by_roi = labels.groupby("roi").size()
        assert {r["roi"]: r["n_voxels"] for r in entry["rois"]} == by_roi.to_dict()
    assert embedded["truth"] == tables["truth"].to_dict("records")


def test_per_voxel_labels_and_roi_lists_equal_labels_csv(clustered_run, embedded):
    labels = cluster_tables(clustered_run)["labels"]
    for subject in embedded["subjects"]:
        rows = labels[labels["key"] == subject["key"]].sort_values("voxel")
        assert subject["voxel"] == rows["voxel"].tolist()
        assert subject["cluster"] == rows["cluster"].tolist()
        assert [embedded["roi_names"][i] for i in subject["roi"]] == rows["roi"].tolist()
        assert subject["vertex"] == rows["vertex"].tolist() and subject["hemi"] == rows["hemi"].tolist()
    for roi in embedded["rois"]:
        rows = labels[labels["roi"] == roi["roi"]]
        assert roi["n_voxels"] == len(rows)
        expected = rows.groupby(["cluster", "key"]).size()
        for entry in roi["clusters"]:
            for key, n in entry["by_subject"].items():
                assert n == expected.get((entry["cluster"], key), 0)


def test_thumbnails_are_the_stored_images(clustered_run, embedded):
    from brainembed.data import CrowdStore
    from brainembed.explorer.raster import image_from_data_uri
    from brainembed.training.run import RunDirectory

    ids = sorted({t["image_id"] for c in embedded["clusters"] for t in c["top"]})
    assert sorted(map(int, embedded["images"])) == ids
    with CrowdStore(RunDirectory(clustered_run).read_config().data) as store:
        pixels = store.read_images(ids)
    for image_id, expected in zip(ids, pixels):
        got = np.asarray(image_from_data_uri(embedded["images"][str(image_id)]).convert("RGB"))
        np.testing.assert_array_equal(got, expected)  # 8 x 8 images are embedded as they are


def test_voxel_id_maps_draw_each_voxel_at_its_vertex(embedded):
    from brainembed.explorer import decode_voxel_ids
    from brainembed.explorer.raster import image_from_data_uri

    height, width = embedded["map"]["height"], embedded["map"]["width"]
    for subject in embedded["subjects"]:
        ids = decode_voxel_ids(image_from_data_uri(subject["ids"]))
        assert ids.shape == (height, width)
        drawn = np.unique(ids[ids >= 0])
        assert drawn.max() < subject["n_voxels"] and len(drawn) >= 0.8 * subject["n_drawn"]
        rows, cols = np.indices(ids.shape)
        for v in drawn:
            mask = ids == v
            # a voxel's patch is the faces around its vertex: centred on it, a few pixels across
            assert abs(cols[mask].mean() - subject["x"][v]) < 8 and abs(rows[mask].mean() - subject["y"][v]) < 8


def test_json_cannot_close_the_script_element():
    from brainembed.explorer.site import _json_for_script

    text = _json_for_script({"roi": "</script><script>alert(1)</script>", "c": "<!--"})
    assert "</" not in text and "<!--" not in text


def test_explore_command_writes_the_page_and_rejects_bad_input(clustered_run, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["explore", "--run", str(clustered_run), "--clusters", TAG, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"file://{(out / 'index.html').resolve()}" in said
    for argv, words in (
            (["--clusters", TAG, "--out", str(out)], "--overwrite"),
            (["--clusters", "k9_nope", "--out", str(tmp_path / "a")], "k9_nope"),
            (["--clusters", TAG, "--subjects", "4", "--out", str(tmp_path / "b")], "'4'"),
            (["--subjects", "7T:1", "9", "--out", str(tmp_path / "c")], "'9'")):
        assert main(["explore", "--run", str(clustered_run)] + argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err and words in err, err


def test_explore_makes_a_missing_clustering_with_the_cluster_command(clustered_run, tmp_path):
    from brainembed.explorer import read_site_data
    from brainembed.pipeline.explorer import write_explorer

    result = write_explorer(clustered_run, ["3T:1"], k=2, out=tmp_path / "one", map_width=300, progress=False)
    folder = clustered_run / "clusters" / "k2_3T_1"
    assert result["tag"] == "k2_3T_1" and (folder / "labels.csv").is_file() and (folder / "sizes.csv").is_file()
    data = read_site_data(tmp_path / "one")
    sizes = pd.read_csv(folder / "sizes.csv")
    assert [c["sizes"][0]["n_voxels"] for c in data["clusters"]] == sizes["n_voxels"].tolist()
    assert all("overlap" not in c for c in data["clusters"])  # one subject: no overlap table


def test_explorer_data_rejects_subjects_outside_the_clustering(clustered_run):
    from brainembed.explorer import explorer_data

    with pytest.raises(BrainembedError, match="not in clustering"):
        explorer_data(clustered_run, TAG, subjects=["7T:2"])


def volume_only_clustering(clustered_run, root):
    """A copy of the clustering whose voxels have no surface vertex (as for volumetric data), no store."""
    import shutil

    run = root / "run"
    shutil.copytree(clustered_run / "clusters" / TAG, run / "clusters" / TAG)
    labels = pd.read_csv(run / "clusters" / TAG / "labels.csv", dtype={"subject": str})
    labels.drop(columns=["hemi", "vertex"]).to_csv(run / "clusters" / TAG / "labels.csv", index=False)
    return run


def test_voxels_without_vertices_give_a_page_without_flatmaps(clustered_run, tmp_path):
    from brainembed.explorer import explorer_data

    data = explorer_data(volume_only_clustering(clustered_run, tmp_path), TAG)
    assert "map" not in data and all("ids" not in s for s in data["subjects"])
    assert data["images"] == {} and len(data["clusters"]) == 3 and data["clusters"][0]["top"]


def test_thumbnail_format_and_size_are_checked(clustered_run):
    from brainembed.explorer import explorer_data
    from brainembed.training.run import RunDirectory

    store = RunDirectory(clustered_run).read_config().data
    data = explorer_data(clustered_run, TAG, store_path=store, thumbnail_format="jpeg", map_width=300)
    assert data["images"] and all(uri.startswith("data:image/jpeg;base64,") for uri in data["images"].values())
    for bad in ({"thumbnail_format": "gif"}, {"thumbnail_size": 2}, {"map_width": 10}):
        with pytest.raises(BrainembedError):
            explorer_data(clustered_run, TAG, **bad)


def test_thumbnails_of_a_folder_pool_are_that_folders_images(clustered_run, tmp_path):
    """Top images ranked over a folder (ids are positions in it) are shown from the folder, not the store."""
    from PIL import Image

    from brainembed.explorer import read_site_data
    from brainembed.explorer.raster import image_from_data_uri
    from brainembed.pipeline.explore import cluster_run
    from brainembed.pipeline.explorer import write_explorer

    pool = tmp_path / "pool"
    pool.mkdir()
    colours = {}
    for i in range(6):  # flat colours, unlike any stored image
        colours[f"{i}.png"] = (40 * i, 255 - 40 * i, 128)
        Image.new("RGB", (8, 8), colours[f"{i}.png"]).save(pool / f"{i}.png")
    result = cluster_run(clustered_run, ["3T:1"], k=2, n_top=3, pool=pool, device="cpu", progress=False,
                         figures=False, overwrite=True)
    assert (result["out"] / "pool.txt").read_text().strip() == str(pool.resolve())
    write_explorer(clustered_run, ["3T:1"], clusters=result["tag"], out=tmp_path / "site", map_width=300,
                   progress=False)
    data = read_site_data(tmp_path / "site")
    shown = {t["image_id"]: t.get("file") for c in data["clusters"] for t in c["top"]}
    assert shown and len(data["images"]) == len(shown)
    files = sorted(colours)  # the folder's sorted order gives the ids
    for image_id in shown:
        got = np.asarray(image_from_data_uri(data["images"][str(image_id)]).convert("RGB"))
        assert (got == colours[files[int(image_id)]]).all()
