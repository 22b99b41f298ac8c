# Two commands for a fresh machine:
#   make run    create .venv if missing, install, get Fashion-MNIST, train the quickstart recipe
#   make test   create .venv if missing, install, run the test suite
# and the documentation site:
#   make docs   build site/ (strict); renders the notebooks `make test` executed, executing
#               (with their test) only those that are missing or older than their source
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.zoo-installed
RECIPE ?= fashion_cnn
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

CONSTRAINTS ?= constraints.txt

.PHONY: run test install data lint clean constraints docs

run: install data
	$(VENV)/bin/zoo train $(RECIPE) $(ARGS)

# Two pytest workers (pytest-xdist), each test file on one worker: much of a test is a
# subprocess, an import or a server start-up, so two share 2 cores well (TEST_WORKERS=0: one
# process).
TEST_WORKERS ?= 2

test: install data
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# tensorflow-cpu (the old x86_64 dependency) and tensorflow share one module: keep one
	$(PY) -m pip uninstall --quiet --yes tensorflow-cpu 2>/dev/null || true
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[test]"
	@touch $(STAMP)

# Newest releases in a fresh venv, the test suite on them, then pin what passed.
constraints:
	rm -rf .venv-refresh
	$(PYTHON) -m venv .venv-refresh
	.venv-refresh/bin/python -m pip install --quiet --upgrade pip
	.venv-refresh/bin/python -m pip install --quiet -e ".[test,docs]"
	.venv-refresh/bin/python -m pytest -q
	{ head -3 $(CONSTRAINTS); .venv-refresh/bin/python -m pip freeze --exclude-editable \
		| grep -v '^keras-gin-zoo'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-refresh

# Fashion-MNIST from Debian's package when it is nowhere to be found and we may install it.
data: install
	@if $(PY) -c "from zoo.datasets.images import find_fashion_mnist as f; raise SystemExit(f() is None)"; then \
		echo "Fashion-MNIST: found"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
		echo "Fashion-MNIST: not found; install Debian's dataset-fashion-mnist or set ZOO_DATA_DIR (keras downloads it when online)"; \
	fi

NOTEBOOKS := $(wildcard notebooks/[0-9][0-9]_*.py)
EXECUTED := $(patsubst notebooks/%.py,docs/notebooks/%.ipynb,$(NOTEBOOKS))

DOCS_STAMP := $(VENV)/.zoo-docs-installed

docs: install $(DOCS_STAMP) $(EXECUTED)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

$(DOCS_STAMP): setup.cfg $(CONSTRAINTS) | install
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[test,docs]"
	@touch $(DOCS_STAMP)

docs/notebooks/%.ipynb: notebooks/%.py | install
	$(PY) -m pytest -q tests/test_notebooks.py -k $*

lint: install
	$(VENV)/bin/ruff check zoo tuners callbacks tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info site docs/notebooks
