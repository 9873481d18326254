# The two commands of the README. Each sets up its environments on first use and is quick afterwards.
VENV          ?= .venv
ASCEND_VENV   ?= .venv-ascend
PYTHON        := $(VENV)/bin/python
ASCEND_PYTHON := $(ASCEND_VENV)/bin/python
STAMP         := $(VENV)/.installed
ASCEND_STAMP  := $(ASCEND_VENV)/.installed

.PHONY: demo test clean

demo: $(STAMP)
	$(PYTHON) examples/offline_inference.py

# The suite on vLLM 0.32.0; then the contract tier, vllm-ascend 0.23.0.post1's real source on the
# vLLM it pairs with (0.23.0), and the adapter's checks on that vLLM too.
test: $(STAMP) $(ASCEND_STAMP)
	$(PYTHON) -m pytest -q --ignore=tests/ascend
	$(ASCEND_PYTHON) -m pytest -q tests/ascend tests/vllm/test_adapter.py tests/vllm/test_capture_plan_against_vllm.py \
		tests/vllm/test_worker_reconcile.py

$(STAMP): pyproject.toml scripts/setup-venv.sh
	sh scripts/setup-venv.sh $(VENV)
	touch $(STAMP)

$(ASCEND_STAMP): pyproject.toml scripts/setup-venv-ascend.sh
	sh scripts/setup-venv-ascend.sh $(ASCEND_VENV)
	touch $(ASCEND_STAMP)

# Mutation testing of the decision layer (scripts/mutation.py): a developer habit, not part of `test` or CI.
# mutmut comes from the `dev` extra, installed on first use.
.PHONY: mutation
mutation: $(STAMP)
	$(PYTHON) -c "import importlib.metadata as m; assert m.version('mutmut') == '3.8.1'" 2>/dev/null || \
		$(PYTHON) -m pip install --disable-pip-version-check --quiet -e '.[dev]'
	$(PYTHON) scripts/mutation.py

clean:
	rm -rf $(VENV) $(ASCEND_VENV) .cache demo-model .pytest_cache .hypothesis
