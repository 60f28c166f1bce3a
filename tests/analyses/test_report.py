"""The report writer and the runner, with a planted experiment (no simulation, no training)."""

import json
import re

import pandas as pd
import pytest

from analyses import report, runner


@pytest.fixture
def planted(monkeypatch):
    from tests.analyses import planted_experiment

    planted_experiment.CALLS.clear()
    monkeypatch.setattr(runner, "EXPERIMENTS", ("planted",))
    monkeypatch.setattr(runner, "MODULES", {"planted": "tests.analyses.planted_experiment"})
    return planted_experiment


def test_markdown_and_html_tables():
    table = pd.DataFrame({"model": ["a|b", "<c>"], "r": [0.12345, 1e-8], "n": [3, 4], "ok": [True, False]})
    md = report.markdown_table(table)
    assert md.splitlines()[0] == "| model | r | n | ok |"
    assert "a\\|b" in md and "1.00e-08" in md and "0.123" in md and "| yes |" in md
    page = report.html_table(table, verdict_column=None)
    assert "&lt;c&gt;" in page and "<th>model</th>" in page
    assert "(1 more rows" in report.markdown_table(table, max_rows=1)


def test_verdict_cells_are_coloured_by_verdict():
    assert report.verdict_class("reproduced") == "ok"
    assert report.verdict_class("not reproduced") == "no"
    assert report.verdict_class("differs because x") == "differs"
    assert report.verdict_class("not run: no data") == "failed"
    records = {"base": {"verdicts": []},
               "a": {"verdicts": [{"claim": "c", "paper": "1", "ours": "2", "verdict": "reproduced"},
                                  {"claim": "d", "paper": "1", "ours": "0", "verdict": "not reproduced"}]},
               "b": {"verdicts": []}}
    summary = report.verdict_summary(records)
    assert summary["experiment"].tolist() == ["a", "b"]  # one headline row per experiment, base left out
    assert summary["verdict"].tolist() == ["reproduced", "no verdict"]
    assert 'class="ok"' in report.html_table(summary)


def test_runner_writes_report_and_resumes(tmp_path, planted):
    out = tmp_path / "rep"
    assert runner.main(["--out", str(out), "--preset", "tiny", "--quiet"]) == 0
    assert len(planted.CALLS) == 1
    record = json.loads((out / "planted" / "result.json").read_text())
    assert record["verdicts"][0]["verdict"] == "reproduced"
    assert record["tables"] == {"scores": "planted/scores.csv"} and record["figures"] == {"bars": "planted/bars.png"}
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "| planted | joint beats single | +15 % | +20 % | reproduced |" in md
    assert "![bars](planted/bars.png)" in md and "## Wall time" in md
    assert page.count("data:image/png;base64,") == 1 and "planted &lt;numbers&gt; &amp; co" in page
    # a second call reuses the finished experiment
    mtime = (out / "planted" / "result.json").stat().st_mtime_ns
    assert runner.main(["--out", str(out), "--preset", "tiny", "--quiet"]) == 0
    assert len(planted.CALLS) == 1
    assert (out / "planted" / "result.json").stat().st_mtime_ns == mtime
    assert re.search(r"\| planted \| \d+ \| reused \|", (out / "report.md").read_text())


def test_runner_refuses_mixed_settings(tmp_path, planted, capsys):
    out = tmp_path / "rep"
    assert runner.main(["--out", str(out), "--preset", "tiny", "--quiet"]) == 0
    assert runner.main(["--out", str(out), "--preset", "demo", "--quiet"]) == 2
    assert "preset 'tiny'" in capsys.readouterr().err


def test_missing_experiment_module_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "EXPERIMENTS", ("no_such_experiment",))
    assert runner.main(["--out", str(tmp_path / "rep"), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "'no_such_experiment' is listed in analyses/experiments.py" in err and "does not exist" in err
    assert not (tmp_path / "rep").exists()  # checked before anything is written


def test_unknown_only_name_is_a_clear_error(tmp_path, capsys):
    assert runner.main(["--out", str(tmp_path / "rep"), "--only", "tabel2"]) == 2
    assert "unknown experiment(s) tabel2" in capsys.readouterr().err


def test_failing_experiment_is_reported_and_others_run(tmp_path, planted, monkeypatch):
    def broken(ctx):
        raise ValueError("planted failure")

    monkeypatch.setattr(planted, "run", broken)
    out = tmp_path / "rep"
    assert runner.main(["--out", str(out), "--preset", "tiny", "--quiet"]) == 1
    assert "planted failure" in (out / "planted" / "error.txt").read_text()
    assert not (out / "planted" / "result.json").exists()  # rerun next time
    assert "failed: ValueError: planted failure" in (out / "report.md").read_text()


def test_every_listed_experiment_has_the_interface():
    from analyses.experiments import EXPERIMENTS

    for name in EXPERIMENTS:
        module = runner.load_experiment(name)
        assert module.NAME == name and module.TITLE and module.PAPER and callable(module.run)
    assert runner.load_experiment("base").NEEDS_BASE is False
