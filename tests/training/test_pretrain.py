"""The stimulus-world trunk: a tiny pretraining run, its file, loading, and the shipped weights."""

import dataclasses
import inspect

import numpy as np
import pytest
import torch

from brainembed.errors import BrainembedError
from brainembed.models.backbone import ViTBackbone, create_vit
from brainembed.simulate.stimuli import CATEGORIES, draw_stimuli
from brainembed.training.pretrain import (
    PretrainObjective,
    build_trunk,
    load_sim_trunk,
    make_pretrain_batch,
    pretrain_sim_trunk,
    probe_trunk,
    sim_trunk_path,
)

TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 16, "stem_channels": [4, 8, 8, 16],
        "stem_strides": [2, 2, 2, 2]}
META_KEYS = {"timm_name", "timm_kwargs", "img_size", "image_mean", "image_std", "seed", "n_images_seen",
             "objective", "probe", "brainembed_version"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("trunk") / "trunk.pt"
    summary = pretrain_sim_trunk(path, n_images=24, image_size=32, batch_size=8, chunk_size=16, seed=3,
                                 probe_images=0, progress=False, **TINY)
    return path, summary


def test_tiny_run_writes_documented_file(tiny_run):
    path, summary = tiny_run
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == {"state_dict", "meta"}
    assert META_KEYS <= set(state["meta"])
    meta = state["meta"]
    assert meta["img_size"] == 32 and meta["n_images_seen"] == 24 == summary["n_images_seen"]
    assert meta["timm_kwargs"]["patch_size"] == 16 and meta["timm_kwargs"]["depth"] == 2
    assert all(v.dtype == torch.float16 for v in state["state_dict"].values())
    assert not any(k.startswith("head") and v.numel() for k, v in state["state_dict"].items())
    assert summary["steps"] == 3 and np.isfinite(summary["final_losses"]["loss"])


def test_data_echoing_trains_each_image_several_times(tmp_path):
    from brainembed.training.pretrain import _draw_chunk

    once = _draw_chunk(3, 0, 8, 32, 16, 0.0)
    twice = _draw_chunk(3, 0, 8, 32, 16, 0.0, passes=2)
    assert len(twice["images"]) == 16
    # every image comes back once more, differently augmented: same labels, twice as often, shuffled together
    assert sorted(twice["category"].tolist()) == sorted(once["category"].tolist() * 2)
    assert torch.equal(torch.sort(twice["scalars"][:, 0]).values,
                       torch.sort(torch.cat([once["scalars"][:, 0]] * 2)).values)
    assert not torch.equal(twice["category"][:8], once["category"])
    summary = pretrain_sim_trunk(tmp_path / "echo.pt", n_images=24, image_size=32, batch_size=8, chunk_size=16,
                                 seed=3, passes=3, probe_images=0, progress=False, **TINY)
    meta = torch.load(tmp_path / "echo.pt", map_location="cpu", weights_only=True)["meta"]
    assert summary["steps"] == 9 and summary["n_images_seen"] == 24 == meta["n_images_seen"]
    assert meta["training"]["passes"] == 3
    with pytest.raises(BrainembedError, match="passes"):
        pretrain_sim_trunk(tmp_path / "bad.pt", n_images=24, passes=0, progress=False)


def test_same_seed_same_trunk(tiny_run, tmp_path):
    path, _ = tiny_run
    again = tmp_path / "again.pt"
    pretrain_sim_trunk(again, n_images=24, image_size=32, batch_size=8, chunk_size=16, seed=3,
                       probe_images=0, progress=False, **TINY)
    a = torch.load(path, weights_only=True)["state_dict"]
    b = torch.load(again, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_load_sim_trunk_gives_working_vit(tiny_run):
    path, _ = tiny_run
    vit, meta = load_sim_trunk(path)
    assert not vit.training and next(vit.parameters()).dtype == torch.float32
    with torch.no_grad():
        tokens = vit.forward_features(torch.randn(2, 3, 32, 32))
    assert tokens.shape == (2, 1 + 4, 32) and torch.isfinite(tokens).all()
    # The encoder's path: create_vit + ViTBackbone from the meta alone.
    same = create_vit(meta["timm_name"], meta["img_size"], pretrained=str(path), **meta["timm_kwargs"])
    assert torch.equal(same.pos_embed, vit.pos_embed)
    backbone = ViTBackbone(same, layers=(1, 2))
    assert backbone(torch.randn(2, 3, 32, 32)).shape == (2, 2, 5, 32)


def test_missing_or_bad_trunk_file(tmp_path):
    with pytest.raises(BrainembedError, match="brainembed pretrain"):
        load_sim_trunk(tmp_path / "nope.pt")
    torch.save({"state_dict": {}}, tmp_path / "bad.pt")
    with pytest.raises(BrainembedError):
        load_sim_trunk(tmp_path / "bad.pt")
    with pytest.raises(BrainembedError, match="n_images"):
        pretrain_sim_trunk(tmp_path / "x.pt", n_images=0, progress=False)
    with pytest.raises(BrainembedError, match="image_size"):
        pretrain_sim_trunk(tmp_path / "x.pt", n_images=8, image_size=30, progress=False)


def test_loss_decreases_on_a_fixed_batch():
    batch = make_pretrain_batch(draw_stimuli(16, image_size=32, random_state=0, masks=True), patch_size=16,
                                random_state=0)
    torch.manual_seed(0)
    vit = build_trunk(32, **TINY)
    objective = PretrainObjective(32, 2, patch_size=16)
    optimiser = torch.optim.Adam(list(vit.parameters()) + list(objective.parameters()), lr=3e-3)
    losses = []
    for _ in range(12):
        loss, _ = objective(vit, batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_batch_targets_follow_the_main_item():
    stimuli = draw_stimuli(40, image_size=56, random_state=1, category_weights={"face": 1, "food": 1}, masks=True)
    batch = make_pretrain_batch(stimuli, patch_size=14, augment=False)
    assert batch["coverage"].shape == (40, 16, 1 + len(CATEGORIES)) and batch["lowlevel"].shape == (40, 16, 14)
    assert batch["segmentation"].shape == (40, 16, 4, 1 + len(CATEGORIES))  # 2 x 2 sub-cells of a 14 px patch
    assert torch.allclose(batch["coverage"].sum(-1), torch.ones(40, 16))
    assert torch.allclose(batch["segmentation"].mean(2), batch["coverage"], atol=1e-6)
    cat = batch["category"].numpy()
    best = batch["coverage"][np.arange(40), :, cat + 1].argmax(1).numpy()  # patch covered most by the main item
    col, row = best % 4, best // 4
    x, y = stimuli.labels["x"].to_numpy(), stimuli.labels["y"].to_numpy()
    assert np.corrcoef(col, x)[0, 1] > 0.7 and np.corrcoef(row, y)[0, 1] > 0.7
    flipped = make_pretrain_batch(stimuli, patch_size=14, random_state=0)
    assert torch.equal(flipped["category"], batch["category"])
    assert not torch.equal(flipped["images"], batch["images"])
    # the label maps move with the pixels: the main item's pixels stay the main item's
    moved = flipped["coverage"][np.arange(40), :, cat + 1].argmax(1).numpy()
    assert np.mean(np.abs(moved % 4 - 1.5) == np.abs(col - 1.5)) > 0.8  # mirrored or not, same distance to centre
    with pytest.raises(BrainembedError, match="masks=True"):
        make_pretrain_batch(draw_stimuli(2, image_size=56, random_state=1), patch_size=14)


@pytest.mark.skipif(not sim_trunk_path().is_file(), reason="the shipped trunk has not been built")
def test_shipped_trunk_beats_random_on_a_category_probe():
    state = torch.load(sim_trunk_path(), map_location="cpu", weights_only=True)
    assert state["meta"]["img_size"] == 112 and sim_trunk_path().stat().st_size < 20e6
    # `brainembed pretrain` with its defaults reproduces the shipped file
    defaults = inspect.signature(pretrain_sim_trunk).parameters
    assert state["meta"]["n_images_seen"] == defaults["n_images"].default
    assert state["meta"]["seed"] == defaults["seed"].default
    assert state["meta"]["training"]["batch_size"] == defaults["batch_size"].default
    assert state["meta"]["training"].get("passes", 1) == defaults["passes"].default
    vit, meta = load_sim_trunk()
    stimuli = draw_stimuli(200, image_size=112, random_state=np.random.default_rng([7, 3_000_000]), masks=True)
    pretrained = probe_trunk(vit, stimuli=stimuli, cv=3, targets=("category", "coverage"))
    torch.manual_seed(0)
    random = probe_trunk(build_trunk(112, **meta["timm_kwargs"]).eval(), stimuli=stimuli, cv=3,
                         targets=("category", "coverage"))
    assert pretrained["category_accuracy"] > random["category_accuracy"] + 0.15
    # patch tokens say which category covers each patch (the random trunk's tokens barely do)
    assert pretrained["coverage_r2"] > random["coverage_r2"] + 0.15
    # without label maps there is nothing to score the coverage probe against
    no_maps = probe_trunk(vit, stimuli=dataclasses.replace(stimuli.subset(np.arange(30)), masks=None), cv=3,
                          targets=("coverage",))
    assert np.isnan(no_maps["coverage_r2"])


def test_plot_trunk_features(tiny_run):
    from brainembed.viz.trunk import plot_trunk_features, trunk_maps

    vit, meta = load_sim_trunk(tiny_run[0])
    images = draw_stimuli(3, image_size=32, random_state=0).images
    pca, attention = trunk_maps(vit, images, block=1)
    assert pca.shape == (3, 2, 2, 3) and attention.shape == (3, 2, 2)
    assert np.all(attention >= 0) and np.all(attention.sum((1, 2)) <= 1.0 + 1e-5)  # the CLS' own share left out
    fig = plot_trunk_features(vit, images, reference=build_trunk(32, **TINY))
    assert len(fig.axes) == 3 * 5
    with pytest.raises(BrainembedError, match="block"):
        trunk_maps(vit, images, block=5)
