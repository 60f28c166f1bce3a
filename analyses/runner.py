"""Run the paper's experiments into one folder and write the report.

``python -m analyses --out DIR [--preset tiny|demo|paper] [--only NAME ...] [--seed S] [--base-run RUN]``

1. ``base`` (:mod:`analyses.base`): simulate the crowd and train and evaluate
   the universal encoder, or attach an existing run (``--base-run``);
2. every selected experiment of :data:`analyses.experiments.EXPERIMENTS`, in
   order, each into ``DIR/NAME/``;
3. ``DIR/report.md`` and ``DIR/report.html`` (:mod:`analyses.report`).

A step that finished (``DIR/NAME/result.json`` exists) is not run again, so an
interrupted call resumes where it stopped. An experiment that fails is
reported (``DIR/NAME/error.txt``) and the others still run.

The experiment interface: a module with ``NAME``, ``TITLE``, ``PAPER`` and
``run(ctx) -> dict``, where ``ctx`` is a :class:`Context` and the dict may hold

- ``tables``: name -> DataFrame (written as ``DIR/NAME/<name>.csv``);
- ``figures``: name -> PNG path (copied into ``DIR/NAME/figures`` unless already there);
- ``verdicts``: list of :func:`analyses.verdicts.verdict_row` dicts, the first
  being the experiment's headline in the report's verdict table;
- ``notes``: list of sentences for the report;
- ``context`` (base only): ``store``, ``run`` and ``held_out`` for the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from analyses.experiments import EXPERIMENTS, MODULES

PRESETS = ("tiny", "demo", "paper")
RESULT_FILE = "result.json"
SETTINGS_FILE = "settings.json"


class AnalysisError(Exception):
    """A problem with the command line, the output folder or the list of experiments."""


@dataclass
class Context:
    """What an experiment gets: where to write, the preset and the shared base run.

    Parameters
    ----------
    out : Path
        The report folder ``DIR`` (absolute).
    preset : {"tiny", "demo", "paper"}
    seed : int
    store : Path, optional
        The simulated crowd's store (``crowd.h5``), set by ``base``.
    base_run : Path, optional
        The shared universal-encoder run (with ``evaluation/``), set by ``base``.
    held_out : str, optional
        The subject key the base run did not train on (for transfer learning).
    reuse_run : Path, optional
        ``--base-run``: an existing run that ``base`` attaches instead of training.
    folder : Path, optional
        ``DIR/NAME`` of the experiment being run (created before ``run``).
    progress : bool
        Print progress.
    """

    out: Path
    preset: str = "demo"
    seed: int = 0
    store: Path | None = None
    base_run: Path | None = None
    held_out: str | None = None
    reuse_run: Path | None = None
    folder: Path | None = None
    progress: bool = True

    @property
    def tiny(self) -> bool:
        """True for the ``tiny`` preset (tests, CI)."""
        return self.preset == "tiny"

    def pick(self, settings: dict):
        """The entry of a per-preset settings dict (``paper`` falls back to ``demo``)."""
        if self.preset in settings:
            return settings[self.preset]
        return settings["demo"]

    def log(self, message: str) -> None:
        """Print one progress line."""
        if self.progress:
            print(f"[analyses] {message}", flush=True)


def load_experiment(name: str):
    """Import an experiment's module and check its interface.

    Parameters
    ----------
    name : str
        ``base`` or a name of :data:`analyses.experiments.EXPERIMENTS`.

    Returns
    -------
    module

    Raises
    ------
    AnalysisError
        The module does not exist or lacks ``NAME``, ``TITLE``, ``PAPER`` or ``run``.
    """
    module_name = MODULES.get(name, f"analyses.{name}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        path = Path(__file__).resolve().parent / (module_name.split(".")[-1] + ".py")
        raise AnalysisError(f"experiment {name!r} is listed in analyses/experiments.py but its module {path} does "
                            f"not exist; write it (NAME, TITLE, PAPER, run(ctx)) or remove {name!r} from the "
                            f"list.") from None
    missing = [attr for attr in ("NAME", "TITLE", "PAPER", "run") if not hasattr(module, attr)]
    if missing:
        raise AnalysisError(f"experiment module {module_name} lacks {', '.join(missing)}; every experiment defines "
                            "NAME, TITLE, PAPER and run(ctx).")
    if module.NAME != name:
        raise AnalysisError(f"experiment module {module_name} has NAME {module.NAME!r} but is listed as {name!r}.")
    return module


def _relative(path, root: Path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _as_path(value, root: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def read_result(folder) -> dict | None:
    """The saved result of a finished step (``folder/result.json``), or None."""
    path = Path(folder) / RESULT_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def save_result(folder: Path, module, result: dict, seconds: float, ctx: Context) -> dict:
    """Write an experiment's tables, figures and verdicts into its folder; return the saved record.

    Parameters
    ----------
    folder : Path
        ``DIR/NAME``.
    module : module
        The experiment (for ``NAME``, ``TITLE``, ``PAPER``).
    result : dict
        What ``run(ctx)`` returned.
    seconds : float
        Wall time of ``run``.
    ctx : Context

    Returns
    -------
    dict, the content of ``result.json``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tables = {}
    for name, table in (result.get("tables") or {}).items():
        path = folder / f"{name}.csv"
        table.to_csv(path, index=False)
        tables[name] = _relative(path, ctx.out)
    figures = {}
    for name, path in (result.get("figures") or {}).items():
        if path is None or not Path(path).is_file():
            continue
        path = Path(path).resolve()
        if folder.resolve() not in path.parents:
            copy = folder / "figures" / f"{name}{path.suffix}"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            path = copy
        figures[name] = _relative(path, ctx.out)
    context = {k: (_relative(v, ctx.out) if k in ("store", "run") and v is not None else v)
               for k, v in (result.get("context") or {}).items()}
    record = {"name": module.NAME, "title": module.TITLE, "paper": module.PAPER, "status": result.get("status", "done"),
              "seconds": round(float(seconds), 1), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
              "preset": ctx.preset, "seed": ctx.seed, "verdicts": list(result.get("verdicts") or []),
              "tables": tables, "figures": figures, "notes": list(result.get("notes") or []), "context": context}
    tmp = folder / f".{RESULT_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str))
    tmp.replace(folder / RESULT_FILE)
    return record


def _check_settings(out: Path, preset: str, seed: int, reuse_run) -> None:
    """Refuse to mix results of different presets, seeds or base runs in one folder."""
    wanted = {"preset": preset, "seed": seed, "base_run": str(Path(reuse_run).resolve()) if reuse_run else None}
    path = out / SETTINGS_FILE
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = [k for k in wanted if saved.get(k) != wanted[k]]
        if changed:
            what = ", ".join(f"{k} {saved.get(k)!r} (asked: {wanted[k]!r})" for k in changed)
            raise AnalysisError(f"{out} holds results made with {what}; choose another --out or remove it.")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2))


def _failure(module, name: str, error: str) -> dict:
    from analyses.verdicts import verdict_row

    title = getattr(module, "TITLE", name) if module is not None else name
    paper = getattr(module, "PAPER", "") if module is not None else ""
    return {"name": name, "title": title, "paper": paper, "status": "failed", "seconds": None,
            "verdicts": [verdict_row(title, "-", "-", f"failed: {error}")],
            "tables": {}, "figures": {}, "notes": [f"failed: {error}"], "context": {}}


def _run_step(name: str, module, ctx: Context) -> tuple[dict, bool]:
    """Run one step unless it finished before; return its record and whether it was reused."""
    folder = ctx.out / name
    saved = read_result(folder)
    if saved is not None:
        ctx.log(f"{name}: finished earlier ({saved.get('seconds')} s), reusing {folder / RESULT_FILE}")
        return saved, True
    ctx.folder = folder
    folder.mkdir(parents=True, exist_ok=True)
    ctx.log(f"{name}: {module.TITLE}")
    t0 = time.perf_counter()
    try:
        result = module.run(ctx)
    except Exception as err:  # noqa: BLE001 - reported, the other experiments still run
        (folder / "error.txt").write_text(traceback.format_exc())
        message = f"{type(err).__name__}: {err}".strip()
        ctx.log(f"{name} failed ({message}); traceback in {folder / 'error.txt'}")
        return _failure(module, name, message), False
    seconds = time.perf_counter() - t0
    (folder / "error.txt").unlink(missing_ok=True)
    record = save_result(folder, module, result, seconds, ctx)
    ctx.log(f"{name}: done in {seconds:.0f} s")
    return record, False


def run_analyses(out, *, preset: str = "demo", only=None, seed: int = 0, base_run=None,
                 progress: bool = True) -> dict:
    """Run the selected experiments into ``out`` and write the report.

    Parameters
    ----------
    out : path
        Report folder ``DIR`` (created; earlier results in it are reused).
    preset : {"tiny", "demo", "paper"}
        Simulation preset and experiment sizes.
    only : sequence of str, optional
        Experiment names to run (default: all, in list order).
    seed : int
    base_run : path, optional
        An existing trained run (with ``evaluation/``) used instead of training the base.
    progress : bool

    Returns
    -------
    dict with ``records`` (name -> saved record), ``reused`` (names not rerun),
    ``failed`` (names), ``report`` (markdown path) and ``html``.
    """
    from analyses.report import write_report

    if preset not in PRESETS:
        raise AnalysisError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}.")
    selected = list(EXPERIMENTS) if not only else list(dict.fromkeys(only))
    unknown = [n for n in selected if n not in EXPERIMENTS]
    if unknown:
        raise AnalysisError(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}.")
    if base_run is not None and not (Path(base_run) / "config.yaml").is_file():
        raise AnalysisError(f"--base-run {base_run} is not a trained run (no config.yaml).")
    modules = {name: load_experiment(name) for name in selected}  # every listed module must exist
    out = Path(out).resolve()
    _check_settings(out, preset, seed, base_run)
    ctx = Context(out=out, preset=preset, seed=int(seed), progress=progress,
                  reuse_run=Path(base_run).resolve() if base_run is not None else None)
    records, reused, failed = {}, [], []
    if any(getattr(m, "NEEDS_BASE", True) for m in modules.values()):
        base = load_experiment("base")
        record, was_reused = _run_step("base", base, ctx)
        records["base"] = record
        if was_reused:
            reused.append("base")
        if record["status"] == "failed":
            failed.append("base")
        else:
            context = record["context"]
            ctx.store = _as_path(context["store"], out)
            ctx.base_run = _as_path(context["run"], out)
            ctx.held_out = context.get("held_out")
    for name, module in modules.items():
        if getattr(module, "NEEDS_BASE", True) and ctx.base_run is None:
            records[name] = _failure(module, name, "the base run failed (see base/error.txt)")
            failed.append(name)
            continue
        record, was_reused = _run_step(name, module, ctx)
        records[name] = record
        if was_reused:
            reused.append(name)
        if record["status"] == "failed":
            failed.append(name)
    # experiments finished by earlier calls (e.g. with --only) stay in the report
    for name in EXPERIMENTS:
        if name not in records and read_result(out / name) is not None:
            records[name] = read_result(out / name)
            reused.append(name)
    ordered = {n: records[n] for n in ["base", *EXPERIMENTS] if n in records}
    paths = write_report(out, ordered, reused=reused, preset=preset, seed=seed, base_run=ctx.reuse_run)
    ctx.log(f"report written to {paths['markdown']} and {paths['html']}")
    return {"records": ordered, "reused": reused, "failed": failed, "report": paths["markdown"],
            "html": paths["html"]}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m analyses``."""
    parser = argparse.ArgumentParser(
        prog="python -m analyses",
        description="Reproduce the experiments of 'The Wisdom of a Crowd of Brains' on the simulated crowd and the "
                    "real digit69 data, as one report (DIR/report.md, DIR/report.html).")
    parser.add_argument("--out", required=True, type=Path, help="report folder (finished experiments are reused)")
    parser.add_argument("--preset", default="demo", choices=PRESETS, help="simulation preset and experiment sizes")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"run only these experiments (of: {', '.join(EXPERIMENTS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-run", type=Path, default=None, metavar="RUN",
                        help="a trained run with its evaluation/ (e.g. runs/demo/run) used instead of training one")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv=None) -> int:
    """Command-line entry point; returns 0 on success, 1 if an experiment failed, 2 on bad input."""
    from brainembed.errors import BrainembedError

    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        result = run_analyses(args.out, preset=args.preset, only=args.only, seed=args.seed, base_run=args.base_run,
                              progress=not args.quiet)
    except (AnalysisError, BrainembedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"[analyses] done in {time.perf_counter() - t0:.0f} s; report: {result['report']}", flush=True)
    if result["failed"]:
        print(f"error: experiment(s) failed: {', '.join(result['failed'])}", file=sys.stderr)
        return 1
    return 0
