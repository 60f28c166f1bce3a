"""The reader registry and image keys: every format registered once, the command line built from it."""

import inspect

import numpy as np
import pytest

import brainembed.cli
import brainembed.pipeline.ingest
from brainembed.cli import build_parser
from brainembed.data.readers import _REGISTRY as REGISTRY
from brainembed.data.readers import (
    COMMON_OPTIONS,
    FORMATS,
    FormatSpec,
    ReaderOption,
    format_spec,
    read_dataset,
    register_format,
)
from brainembed.data.readers._base import image_key, image_keys
from brainembed.errors import BrainembedError
from tests.data.readers.formats import (
    write_algonauts_subject,
    write_digits,
    write_god,
    write_nsd,
    write_nsd_stim_info,
    write_vim1,
)


def _import_parser():
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices["import"]


def test_formats_are_specs_in_one_registry():
    assert list(FORMATS)[:5] == ["algonauts", "nsd", "god", "vim1", "digits"]   # newer readers follow
    assert "nsd" in FORMATS and "mosaic-x" not in FORMATS
    for name, spec in FORMATS.items():
        assert isinstance(spec, FormatSpec) and spec.name == name and spec.description
        assert callable(spec.open_function())
        accepted = inspect.signature(spec.open_function()).parameters
        for option in spec.cli_options:        # every flag the CLI offers is a keyword the opener takes
            assert option.keyword in accepted, (name, option.keyword)
        assert ("subjects" in accepted) == (spec.subjects == "many")
    assert FORMATS["nsd"].subjects == "one" and FORMATS["digits"].subjects == "single"
    with pytest.raises(TypeError):
        FORMATS["x"] = FORMATS["nsd"]           # read-only: register_format is the one place
    with pytest.raises(BrainembedError, match="unknown dataset format 'nope'; use one of algonauts, nsd"):
        format_spec("nope")


def test_register_format_checks_its_input():
    with pytest.raises(ValueError, match="already registered"):
        register_format("nsd", "m", "f", "again")
    with pytest.raises(ValueError, match="subjects must be one of"):
        register_format("newfmt", "m", "f", "d", subjects="some")
    with pytest.raises(ValueError, match="is a path option for another format"):
        register_format("newfmt", "m", "f", "d", options=[ReaderOption("images", "a number", "positive_int")])
    with pytest.raises(ValueError, match="kind"):
        ReaderOption("roi", "x", "float")
    assert "newfmt" not in FORMATS


def test_command_line_comes_from_the_registry(monkeypatch):
    parser = _import_parser()
    fmt = next(a for a in parser._actions if a.dest == "format")
    assert list(fmt.choices) == list(FORMATS)
    flags = {o for a in parser._actions for o in a.option_strings}
    for spec in FORMATS.values():
        assert {o.flag for o in spec.cli_options} <= flags
    assert "--no-zscore" in flags and "--snr-top-k" in flags and "--stim-info" in flags
    # a newly registered format and its own flag appear without touching the CLI or the pipeline
    monkeypatch.setitem(REGISTRY, "lab", FormatSpec("lab", "tests.data.readers.lab_reader", "open_lab",
                                                    "a lab's .npz", options=(ReaderOption("threshold", "t"),)))
    parser = _import_parser()
    assert "lab" in next(a for a in parser._actions if a.dest == "format").choices
    assert "--threshold" in {o for a in parser._actions for o in a.option_strings}
    for module in (brainembed.pipeline.ingest, brainembed.cli):
        source = inspect.getsource(module)
        for name in ("nsd", "digits", "god", "vim1", "algonauts"):
            assert f'"{name}"' not in source, (module.__name__, name)   # no per-format branch


def test_image_key_helper():
    assert image_key("coco", 532481) == "coco:532481"
    assert image_key("coco", np.int64(7)) == "coco:7"
    assert image_key("imagenet", "n01440764_10026") == "imagenet:n01440764_10026"
    assert list(image_keys("vim1", np.array([0, 12]))) == ["vim1:0", "vim1:12"]
    for bad in (("", 1), ("a:b", 1), ("coco", " ")):
        with pytest.raises(BrainembedError, match="image key"):
            image_key(*bad)
    assert {o.keyword for o in COMMON_OPTIONS} == {"image_size", "dataset"}


def test_every_reader_fills_image_key(tmp_path):
    write_nsd(tmp_path / "nsd")
    crowd = read_dataset("nsd", tmp_path / "nsd", trials_per_session=12)
    meta = crowd.images.metadata
    assert list(meta["image_key"]) == [f"nsd:{i}" for i in crowd.images.ids]      # no CSV: 73k ids
    coco = write_nsd_stim_info(tmp_path / "nsd")                                   # the release's CSV found
    crowd = read_dataset("nsd", tmp_path / "nsd", trials_per_session=12)
    assert list(crowd.images.metadata["image_key"]) == [f"coco:{coco[i]}" for i in crowd.images.ids]

    write_algonauts_subject(tmp_path / "alg", 1, [13, 27, 5], seed=1)
    crowd = read_dataset("algonauts", tmp_path / "alg", test_ids=[13])
    assert list(crowd.images.metadata["image_key"]) == ["nsd:5", "nsd:13", "nsd:27"]
    crowd = read_dataset("algonauts", tmp_path / "alg", test_ids=[13],
                         stim_info=tmp_path / "nsd/nsddata/experiments/nsd/nsd_stim_info_merged.csv")
    assert list(crowd.images.metadata["image_key"]) == [f"coco:{coco[i]}" for i in (5, 13, 27)]

    t = write_god(tmp_path / "god")
    crowd = read_dataset("god", t["path"], images=t["images"])
    stems = [f"n{int(lab):08d}_{int(round(lab % 1 * 1e6))}" for lab in np.sort(t["labels"])]
    assert sorted(crowd.images.metadata["image_key"]) == sorted(f"imagenet:{s}" for s in stems)

    write_vim1(tmp_path / "vim1", nan_voxels=())
    crowd = read_dataset("vim1", tmp_path / "vim1")
    assert list(crowd.images.metadata["image_key"]) == [f"vim1:{i}" for i in range(12)]
    write_digits(tmp_path / "d.mat")
    crowd = read_dataset("digits", tmp_path / "d.mat")
    assert list(crowd.images.metadata["image_key"]) == [f"digits:{i}" for i in range(8)]


def test_nsd_stim_info_errors(tmp_path):
    write_nsd(tmp_path)
    path = tmp_path / "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
    path.write_text("nsdId,other\n0,1\n")
    with pytest.raises(BrainembedError, match=r"lacks the column\(s\) \['cocoId'\]"):
        read_dataset("nsd", tmp_path, trials_per_session=12)
    path.write_text("nsdId,cocoId\n0,1\n")
    with pytest.raises(BrainembedError, match="has no row for NSD image"):
        read_dataset("nsd", tmp_path, trials_per_session=12)
