# Two commands set everything up on a new machine:
#   make chat   create .venv if missing, install, and open the chat on the shipped model
#   make test   create .venv if missing, install, and run the test suite
# A second run reuses .venv (it reinstalls only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: chat test model model-tiny bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@# torch first, pinned to the CPU build that installs from this machine's disk
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/dummies chat

test: $(STAMP)
	$(PY) -m pytest -q

# run the whole model pipeline (tokenizer, pretrain, sft, lora) into runs/default: about 30 minutes on 2 idle cores.
# It writes beside the shipped model, not over it, until its scores beat the shipped one (see README).
model: $(STAMP)
	$(VENV)/bin/dummies train --out runs/default --fresh

model-tiny: $(STAMP)
	$(VENV)/bin/dummies train --recipe tiny --out runs/tiny --fresh

bench: $(STAMP)
	$(PY) -m benchmarks

clean-venv:
	rm -rf $(VENV)
