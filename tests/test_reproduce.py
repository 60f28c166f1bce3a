"""The reproduction report end to end on the tiny crowd (what `make reproduce` runs, at test size)."""

import json
import re

import pytest

from analyses.experiments import EXPERIMENTS
from analyses.runner import main


def _verdict_rows(markdown: str) -> list[str]:
    section = markdown.split("## Verdicts", 1)[1].split("## Wall time", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| experiment")]


@pytest.mark.slow
def test_reproduce_tiny_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINEMBED_DATA", str(tmp_path / "brainembed-data"))
    out = tmp_path / "reproduce"
    assert main(["--out", str(out), "--preset", "tiny", "--quiet"]) == 0
    markdown = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    rows = _verdict_rows(markdown)
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == list(EXPERIMENTS)
    for row in rows:
        verdict = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert re.match(r"(reproduced|not reproduced|differs because |not run: )", verdict), row
    assert "data:image/png;base64," in page and "<table>" in page
    for name in EXPERIMENTS:
        record = json.loads((out / name / "result.json").read_text())
        assert record["verdicts"] and record["status"] in ("done", "skipped")
    assert (out / "base" / "run" / "evaluation" / "summary.csv").is_file()

    # a second call resumes: nothing is rerun
    results = sorted(out.glob("*/result.json"))
    mtimes = {p: p.stat().st_mtime_ns for p in results}
    assert main(["--out", str(out), "--preset", "tiny", "--quiet"]) == 0
    assert {p: p.stat().st_mtime_ns for p in results} == mtimes
    assert "| reused |" in (out / "report.md").read_text()

    # --only with an attached base run: one experiment, one verdict row, the original run untouched
    before = sorted(p.relative_to(out) for p in (out / "base" / "run").rglob("*"))
    only = tmp_path / "only"
    assert main(["--out", str(only), "--preset", "tiny", "--only", "table2", "--base-run",
                 str(out / "base" / "run"), "--quiet"]) == 0
    rows = _verdict_rows((only / "report.md").read_text())
    assert len(rows) == 1 and rows[0].startswith("| table2 |")
    assert (only / "base" / "run" / "checkpoints" / "best.pt").is_file()
    assert sorted(p.relative_to(out) for p in (out / "base" / "run").rglob("*")) == before
