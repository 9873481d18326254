# The two commands of the README. Each sets up its environments on first use and is quick afterwards.
VENV          ?= .venv
PYTHON        := $(VENV)/bin/python
STAMP         := $(VENV)/.installed
# tests/core with nothing but its declared dependencies (the `core-test` extra and pluggy).
CORE_VENV     ?= .venv-core
CORE_STAMP    := $(CORE_VENV)/.installed
# The contract tier's environments, one per vLLM that a tested vllm-ascend pairs with
# (tests/ascend/versions.py): $(ASCEND_ROOT)/vllm-VERSION/, sharing torch (scripts/setup-venv-ascend.sh).
ASCEND_ROOT   ?= .venv-ascend
ASCEND_VLLMS  := 0.23.0 0.26.0 0.27.1
ASCEND_STAMPS := $(ASCEND_VLLMS:%=$(ASCEND_ROOT)/vllm-%/.installed)

.PHONY: demo test clean

# Bytecode is cached, as after a pip install: the tests start many Python processes (vLLM engines, the
# contract tier's cases), which would otherwise compile every module they import from source each time.
unexport PYTHONDONTWRITEBYTECODE

demo: $(STAMP)
	$(PYTHON) examples/offline_inference.py

# Lint and type check; the core tests in their bare environment; the suite on vLLM 0.32.0; then the
# contract tier once per environment: each vllm-ascend's real source on the vLLM it pairs with, and
# the adapter's checks on that vLLM too. Every contract environment runs even when one fails; the
# last line names those that failed.
test: $(STAMP) $(CORE_STAMP) $(ASCEND_STAMPS)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	$(CORE_VENV)/bin/python -m pytest -q tests/core
	$(PYTHON) -m pytest -q --ignore=tests/ascend --ignore=tests/core
	@failed=""; for vllm in $(ASCEND_VLLMS); do \
		echo "== contract tier on vLLM $$vllm ($(ASCEND_ROOT)/vllm-$$vllm)"; \
		$(ASCEND_ROOT)/vllm-$$vllm/bin/python -m pytest -q tests/ascend tests/vllm/test_adapter.py \
			tests/vllm/test_capture_plan_against_vllm.py tests/vllm/test_worker_reconcile.py \
			|| failed="$$failed $$vllm"; \
	done; \
	if [ -n "$$failed" ]; then echo "contract tier failed on vLLM$$failed (see each run's summary line)"; exit 1; fi

$(STAMP): pyproject.toml scripts/setup-venv.sh
	sh scripts/setup-venv.sh $(VENV)
	touch $(STAMP)

$(CORE_STAMP): pyproject.toml
	[ -x $(CORE_VENV)/bin/python ] || python3 -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip --disable-pip-version-check --quiet install -e '.[core-test]'
	touch $(CORE_STAMP)

$(ASCEND_ROOT)/vllm-%/.installed: pyproject.toml scripts/setup-venv-ascend.sh
	sh scripts/setup-venv-ascend.sh $(ASCEND_ROOT) $*
	touch $@

# Mutation testing of the decision layer (scripts/mutation.py): a developer habit, not part of `test` or CI.
# mutmut comes from the `dev` extra, installed on first use.
.PHONY: mutation
mutation: $(STAMP)
	$(PYTHON) -c "import importlib.metadata as m; assert m.version('mutmut') == '3.8.1'" 2>/dev/null || \
		$(PYTHON) -m pip install --disable-pip-version-check --quiet -e '.[dev]'
	$(PYTHON) scripts/mutation.py

clean:
	rm -rf $(VENV) $(CORE_VENV) $(ASCEND_ROOT) .cache demo-model .pytest_cache .hypothesis
