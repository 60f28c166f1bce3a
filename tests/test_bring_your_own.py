"""docs/bring_your_own.rst: its commands parse, and run end to end on fixtures in the published layouts."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from brainembed.cli import build_parser, main

PAGE = Path(__file__).resolve().parents[1] / "docs" / "bring_your_own.rst"


def documented_commands() -> list[list[str]]:
    """Every ``brainembed ...`` line of the page's bash blocks (continuations joined), as argv lists."""
    commands = []
    for block in re.findall(r"\.\. code-block:: bash\n\n((?:   .*\n|\n)+)", PAGE.read_text()):
        text = re.sub(r"\\\n\s*", " ", block)
        commands += [shlex.split(line.strip())[1:] for line in text.splitlines()
                     if line.strip().startswith("brainembed ")]
    return commands


def write_fixtures(root: Path) -> None:
    """``nsd/`` (one 750-trial session, nsd_stim_info_merged.csv), ``algonauts/subj02-03``, ``god/``."""
    from tests.data.readers.formats import write_algonauts_subject, write_god, write_nsd, write_nsd_stim_info

    truth = write_nsd(root / "nsd", n_sessions=1, trials=750, n_brick=300, shared=tuple(range(8)))
    write_nsd_stim_info(root / "nsd", n_brick=300)
    shared = truth["shared"].astype(int)
    rng = np.random.default_rng(5)
    for subject in (2, 3):
        others = rng.choice(np.setdiff1d(np.arange(300), shared), 40, replace=False)
        write_algonauts_subject(root / "algonauts", subject, np.r_[shared, others].tolist(), seed=subject,
                                image_size=(10, 10))
    write_god(root / "god", n_train=12, n_test=6)


def test_documented_commands_parse():
    commands = documented_commands()
    assert [c[0] for c in commands] == ["import", "import", "import", "info", "train", "evaluate"]
    assert sum("--append" in c for c in commands) == 2
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)


@pytest.mark.slow
def test_documented_commands_run_on_fixtures(tmp_path, monkeypatch, capsys):
    write_fixtures(tmp_path)
    monkeypatch.chdir(tmp_path)
    for argv in documented_commands():
        assert main(argv) == 0, argv
    out = capsys.readouterr().out
    assert "crowd/crowd.h5: 4 subjects" in out
    from brainembed.data import check_no_leakage, load_crowd

    crowd = load_crowd(tmp_path / "crowd", repeats=False)
    assert crowd.keys == ["NSD:1", "NSD:2", "NSD:3", "GOD:1"]
    assert crowd.images.metadata["image_key"].is_unique
    assert len(crowd.images) < sum(s.n_images for s in crowd.subjects)      # shared COCO images stored once
    check_no_leakage(crowd)
    summary = (tmp_path / "runs/joint/evaluation/summary.csv").read_text()
    assert "GOD" in summary and "NSD" in summary
