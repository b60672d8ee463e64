# levelpipe: `make run` runs the whole workflow on the bundled samples, `make test` runs the tests.
# Both create the virtual environment on first use; nothing else needs installing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: run test bench fuzz report lint clean system-deps

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

# After a run killed hard (kill -9, OOM, lost session), scripts/make_run.py removes its stale
# locks (only when no snakemake or job of it still works in the directory) and reruns what it
# left incomplete: `make run` again finishes it. RUN_ARGS: more snakemake arguments (the tests
# run it in a scratch directory with --directory and --configfile).
RUN_ARGS ?=
run: $(STAMP)
	$(BIN)/python scripts/make_run.py $(BIN)/snakemake --snakefile $(CURDIR)/Snakefile --cores $(CORES) $(RUN_ARGS)

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Mutation fuzzing of every reader of every family (levelpipe.fuzz): per reader at most
# FUZZ_INPUTS inputs or FUZZ_SECONDS seconds, whichever comes first (0: no time limit).
FUZZ_INPUTS ?= 100000
FUZZ_SECONDS ?= 60
FUZZ_ARGS ?=
fuzz: $(STAMP)
	$(BIN)/python -m levelpipe.fuzz --inputs $(FUZZ_INPUTS) --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)

report: $(STAMP)
	$(BIN)/snakemake --report report.html

lint: $(STAMP)
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks/results .snakemake report.html
