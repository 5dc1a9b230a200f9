# Two commands do everything:  `make lab`  and  `make test`.
# Both need only Python 3.10+ and make; they work as root and as a normal user.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test env bench bench-lectures site clean

env: $(STAMP)

# Re-install whenever the dependency list changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Jupyter refuses to run as root unless told; a course admin in a container is often root.
# `make lab` serves the whole course (instructors open solutions/ and the formgrader edits there)
# and opens on the lectures.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: env
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/lectures

test: env
	$(BIN)/python -m pytest

bench: env
	$(BIN)/python benchmarks/train_step.py

# Each lecture's headless run time and each demo's callback latency against the issue's targets.
bench-lectures: env
	$(BIN)/python benchmarks/lectures.py

# The executed lectures as static HTML in site/ that opens offline (MathJax is fetched once with npm).
site: env
	$(BIN)/python lectures/_site.py --out site

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .hypothesis
