# Every target sets itself up from nothing: a virtual environment, then the install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@$(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') and '+cpu' in v or torch.cuda.is_available() else 'expected the CPU build of torch 2.13.0, got ' + v)"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/shipyard run examples/breast_cancer.yaml

# The report test renders report.html in real headless Chromium (Debian package `chromium`).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

# The whole suite: unit tests, then every whole-pipeline (slow) test; each example is trained once per session.
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q tests

# Unit tests only (no whole-pipeline runs): seconds, for the edit-test loop.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) runs mlflow.db mlruns
