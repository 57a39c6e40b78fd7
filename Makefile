# Two commands set everything up from nothing:
#   make demo   the instructor pipeline on sample submissions
#   make test   the project's tests
# Both create the virtual environment .venv first (once; again when the
# requirements change).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Test processes (pytest-xdist): CI has 2 cores; many tests wait on sandboxes,
# kernels and servers, so two processes halve the time even there. A file's
# tests run in one process: they share module fixtures (one sandbox, the demo
# course).
JOBS ?= 2
INSTALLED := $(VENV)/.installed

.PHONY: test test-fast demo release publish bench clean

$(INSTALLED): requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $(INSTALLED)

# The instructor pipeline on sample submissions, in build/demo/.
demo: $(INSTALLED)
	$(PY) -m coursekit demo

# Every test, the slow ones included (CI runs this).
test: $(INSTALLED)
	$(PY) -m pytest -m "slow or not slow" -n $(JOBS) --dist loadfile

# The fast subset, for the edit-test loop.
test-fast: $(INSTALLED)
	$(PY) -m pytest -n $(JOBS) --dist loadfile

# The student release assignments/nn_from_scratch, generated from solutions/.
release: $(INSTALLED)
	$(PY) -m coursekit release

# The student repository, only what students may see, as a new commit in DIR:
#   make publish DIR=../nn-from-scratch-student
publish: $(INSTALLED)
	@test -n "$(DIR)" || { echo "usage: make publish DIR=folder"; exit 2; }
	$(PY) -m coursekit publish $(DIR)

bench: $(INSTALLED)
	$(PY) benchmarks/bench_layers.py

clean:
	rm -rf $(VENV) .pytest_cache
