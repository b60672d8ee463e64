# levelpipe: `make run` runs the whole workflow on the bundled samples, `make test` runs the tests.
# Both create the virtual environment on first use; nothing else needs installing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: run test bench report lint clean system-deps

# panoptes-aggregation is installed without its pins, which would downgrade numpy, pandas and
# astropy (its other requirements are the `jets` extra in pyproject.toml).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[workflow,jets,test]'
	$(BIN)/python -m pip install --quiet --no-deps 'panoptes-aggregation==5.3.1'
	touch $(STAMP)

# Headless Chromium for the image-browser test (Debian package; optional, the test skips without it).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "note: chromium could not be installed; browser test will skip"; \
	  else echo "note: chromium not found; browser test will skip"; fi; }

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

report: $(STAMP)
	$(BIN)/snakemake --report report.html

lint: $(STAMP)
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks/results .snakemake report.html
