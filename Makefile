# The two commands of the README. Each sets up .venv on first use and is quick afterwards.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test clean

demo: $(STAMP)
	$(PYTHON) examples/offline_inference.py

test: $(STAMP)
	$(PYTHON) -m pytest -q

$(STAMP): pyproject.toml scripts/setup-venv.sh
	sh scripts/setup-venv.sh $(VENV)
	touch $(STAMP)

clean:
	rm -rf $(VENV) demo-model .pytest_cache .hypothesis
