"""Imports point one way (STYLE.md): a lower layer never imports a higher one.

The test parses brainembed/ with :mod:`ast` and imports nothing from it. Every
``import`` counts, also those inside functions (the package imports heavy or
higher-level pieces lazily, and a lazy import is still a dependency).

Layers, lowest first (STYLE.md and issue 19: config -> data -> models ->
training -> evaluation -> analysis -> viz -> pipeline -> cli, with the
packages STYLE.md's layout adds put where their imports already sit)::

    0  brainembed (the package root: its version), errors, validation, _paths
    1  config
    2  data
    3  simulate     (the simulated crowd is data: it builds Crowds)
    4  models
    5  training
    6  evaluation
    7  analysis     (runs without torch: no module-level torch import)
    8  viz
    9  explorer     (the HTML explorer draws with viz and reads runs)
    10 pipeline
    11 demo
    12 cli, __main__

A module may import its own layer or any lower one. Imports that go up are
listed in ALLOWED_UPWARD with the reason; anything else fails the test.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "brainembed"

LAYERS = {
    "": 0, "errors": 0, "validation": 0, "_paths": 0,
    "config": 1,
    "data": 2,
    "simulate": 3,
    "models": 4,
    "training": 5,
    "evaluation": 6,
    "analysis": 7,
    "viz": 8,
    "explorer": 9,
    "pipeline": 10,
    "demo": 11,
    "cli": 12, "__main__": 12,
}

#: (importing module, imported module) -> why the upward import is right.
ALLOWED_UPWARD = {
    ("brainembed.training.loop", "brainembed.evaluation.metrics"):
        "validation during training scores with evaluation's Pearson r per voxel (one definition of the metric); "
        "imported inside the function that scores",
    ("brainembed.training.transfer", "brainembed.evaluation.metrics"):
        "transfer learning keeps the best epoch by the same validation Pearson r as training",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """(imported module, line, at module level) for every brainembed import in ``path``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            yield name, node.lineno, id(node) in top_level


def _layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else ""
    assert key in LAYERS, f"{module} belongs to no layer: add its package to LAYERS in {__file__}"
    return LAYERS[key]


def _edges():
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        for imported, line, top in _imports(path):
            yield path, importer, imported, line, top


def test_lower_layers_never_import_higher_ones():
    upward, used = [], set()
    for path, importer, imported, line, _ in _edges():
        if not imported.startswith("brainembed"):
            continue
        if _layer(imported) <= _layer(importer):
            continue
        if (importer, imported) in ALLOWED_UPWARD:
            used.add((importer, imported))
            continue
        upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {importer} imports {imported}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)
    assert used == set(ALLOWED_UPWARD), f"exceptions no longer needed: {sorted(set(ALLOWED_UPWARD) - used)}"


def test_nothing_imports_the_command_line():
    importers = {importer for _, importer, imported, _, _ in _edges() if imported == "brainembed.cli"}
    assert importers <= {"brainembed.__main__"}


@pytest.mark.parametrize("layer", ["analysis", "evaluation"])
def test_analysis_and_evaluation_import_no_torch_at_module_level(layer):
    heavy = [f"{path.relative_to(PACKAGE.parent)}:{line}" for path, _, imported, line, top in _edges()
             if top and imported.split(".")[0] == "torch" and path.is_relative_to(PACKAGE / layer)]
    assert not heavy, f"module-level torch imports in {layer}: {heavy}"


def test_the_layer_map_covers_every_package():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= set(LAYERS)
