"""The contract: after vllm-ascend's own pass, vLLM's config, vllm-ascend's `AscendConfig` (in this
process and in a worker's), our record and `explain` all say the same thing, for every case, on the
vllm-ascend version this environment holds (`versions.installed()`). Where a version's rules differ,
the case's `expect(VERSION)` says so by name (`cases.Differs`); every failure names the version."""

from __future__ import annotations

from pathlib import Path

import pytest
from cases import CASES, Case
from versions import installed

PIECEWISE_MODES = ("PIECEWISE", "FULL_AND_PIECEWISE")
FULL_ONLY_MODES = ("FULL", "FULL_DECODE_ONLY")
XLITE_WORKER = "vllm_ascend.xlite.xlite_worker.XliteWorker"
PLAN_FIELDS = ("backend", "cudagraph_mode", "npugraph_ex", "static_kernel", "capture_sizes")

VERSION = installed()  # None outside a contract environment, where conftest.py skips these tests
ids = [case.id for case in CASES]
built = [case for case in CASES if case.expect(VERSION).error is None]


def where(case: Case) -> str:
    """The case and the version, for failure messages; with the version difference in force, if any."""
    differs = case.expect(VERSION).differs
    return f"{case.id} on vllm-ascend {VERSION.name if VERSION else '?'}" + (f" ({differs})" if differs else "")


def result_of(contract, case: Case) -> dict:
    result = contract[case.id]
    assert "error" not in result, f"{where(case)}: {result['error']}"
    return result


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_the_platform_is_vllm_ascend_from_its_source(contract, case, vllm_ascend):
    config = result_of(contract, case)["config"]
    assert config["platform"] == "vllm_ascend.platform.NPUPlatform", where(case)
    assert vllm_ascend.source_folder in Path(config["vllm_ascend_file"]).parts, where(case)


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_vllm_holds_the_recorded_mode_and_sizes(contract, case):
    config = result_of(contract, case)["config"]
    record = config["record"]
    assert (config["cudagraph_mode"], config["capture_sizes"]) == (record["cudagraph_mode"], record["capture_sizes"]), (
        where(case))


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_vllm_ascend_holds_the_recorded_flags_in_every_process(contract, case):
    config = result_of(contract, case)["config"]
    record = config["record"]
    expected = {"npugraph_ex": record["npugraph_ex"], "static_kernel": record["static_kernel"],
                "xlite": record["backend"] == "xlite"}
    assert config["ascend_config"] == expected, where(case)  # get_ascend_config() after the platform's pass
    assert config["worker_ascend_config"] == expected, where(case)  # a worker's, from the pickled config


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_the_xlite_worker_runs_exactly_when_the_plan_is_xlite(contract, case):
    config = result_of(contract, case)["config"]
    assert (config["worker_cls"] == XLITE_WORKER) == (config["record"]["backend"] == "xlite"), (
        f"{where(case)}: {config['worker_cls']}")


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_vllm_ascends_own_wrapper_and_compiler_run_every_builtin(contract, case):
    """Every builtin backend runs on the platform's own device (`npu`) or on none, so the plugin's hook
    answers as vllm-ascend alone: its own wrapper for every piece, and its own compiler."""
    config = result_of(contract, case)["config"]
    assert config["wrapper_hook"] == "vllm_ascend.compilation.acl_graph.ACLGraphWrapper", where(case)
    assert config["piece_wrapper"] == "vllm_ascend.compilation.acl_graph.ACLGraphWrapper", where(case)
    assert config["compiler"] == "vllm_ascend.compilation.compiler_interface.AscendCompiler", where(case)


EXPECTING_A_BACKEND = [case for case in built if case.expect(VERSION).backend]


@pytest.mark.parametrize("case", EXPECTING_A_BACKEND, ids=[c.id for c in EXPECTING_A_BACKEND])
def test_the_backend_is_the_one_this_version_serves(contract, case):
    assert result_of(contract, case)["config"]["record"]["backend"] == case.expect(VERSION).backend, where(case)


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_compilation_mode_and_splitting_ops_fit_the_mode(contract, case):
    config = result_of(contract, case)["config"]
    mode = config["cudagraph_mode"]
    if mode == "NONE":
        assert config["compilation_mode"] == "NONE", where(case)
    elif mode in PIECEWISE_MODES:
        assert config["compilation_mode"] == "VLLM_COMPILE" and "vllm::unified_attention_with_output" in config[
            "splitting_ops"], where(case)
    else:
        assert mode in FULL_ONLY_MODES and config["splitting_ops"] == [], where(case)


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_npugraph_ex_is_on_only_where_vllm_ascend_compiles(contract, case):
    """Npugraph_ex is a layer of vllm-ascend's compile backend: on in the record, it must run there."""
    config = result_of(contract, case)["config"]
    assert not config["record"]["npugraph_ex"] or config["compilation_mode"] == "VLLM_COMPILE", where(case)


EXPECTING_A_MODE = [case for case in built if case.expect(VERSION).cudagraph_mode]


@pytest.mark.parametrize("case", EXPECTING_A_MODE, ids=[c.id for c in EXPECTING_A_MODE])
def test_the_mode_is_the_one_this_version_keeps(contract, case):
    config = result_of(contract, case)["config"]
    assert config["record"]["cudagraph_mode"] == case.expect(VERSION).cudagraph_mode, where(case)


EXPECTING_TP_ALIGNMENT = [case for case in built if case.expect(VERSION).tp_aligned is not None]


@pytest.mark.parametrize("case", EXPECTING_TP_ALIGNMENT, ids=[c.id for c in EXPECTING_TP_ALIGNMENT])
def test_capture_sizes_are_multiples_of_tp_exactly_where_this_version_keeps_only_those(contract, case):
    """The plan keeps only multiples of TP where this vllm-ascend prunes to them, says so in a note, and
    vllm-ascend's own pass then changes nothing (no override: `test_explain_predicts_the_record...`)."""
    record, tp = result_of(contract, case)["config"]["record"], case.engine["tensor_parallel_size"]
    aligned = case.expect(VERSION).tp_aligned
    if aligned:  # (unaligned sizes may still all be multiples of TP: rounded for speculative decoding, say)
        assert all(size % tp == 0 for size in record["capture_sizes"]), f"{where(case)}: {record['capture_sizes']}"
    noted = [note for note in record["notes"] if f"keeps multiples of tensor_parallel_size {tp} with" in note]
    assert len(noted) == int(aligned), f"{where(case)}: {record['notes']}"


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_explain_predicts_the_record_and_overrides_are_exactly_the_expected_ones(contract, case):
    """`explain` gives the plan; the record is that plan with each override's effective value."""
    result = result_of(contract, case)
    explained, record = result["explain"], result["config"]["record"]
    assert "error" not in explained, f"{where(case)}: {explained}"
    assert [o["setting"] for o in record["overrides"]] == list(case.expect(VERSION).overrides), where(case)
    predicted = {k: explained[k] for k in PLAN_FIELDS}
    for override in record["overrides"]:
        assert override["planned"] == predicted[override["setting"]], f"{where(case)}: {override}"
        assert override["by"] == "vllm_ascend.platform.NPUPlatform", where(case)
        predicted[override["setting"]] = override["effective"]
    assert predicted == {k: record[k] for k in PLAN_FIELDS}, where(case)
    if not record["overrides"]:  # what the model runner will capture, per runtime mode
        assert explained["graphs"] == record["graphs"], where(case)


@pytest.mark.parametrize("case", built, ids=[c.id for c in built])
def test_every_override_is_said(contract, case):
    """Where vLLM or vllm-ascend has the last word, the record, a WARNING and the decision's line say so.
    The decision's line is INFO, or WARNING where a backend asked for by name fell back."""
    result = result_of(contract, case)
    record, logged = result["config"]["record"], result["logged"]
    fell_back = record["requested"] not in ("auto", record["backend"])
    infos = [message for level, message in logged if level == "INFO"]
    warnings = [message for level, message in logged if level == "WARNING"]
    # One line for the decision, from the process that decides.
    assert infos == ([] if fell_back else [record["summary"]]), f"{where(case)}: {logged}"
    if fell_back:
        assert warnings.count(record["summary"]) == 1, f"{where(case)}: {logged}"
        warnings.remove(record["summary"])
    texts = [f"{o['by']} changed {o['setting']}" for o in record["overrides"]]
    assert len(warnings) == len(texts) and all(t in w for t, w in zip(texts, warnings, strict=True)), where(case)
    assert all(t in record["summary"] for t in texts), where(case)


ERRORS = [case for case in CASES if case.expect(VERSION).error]


@pytest.mark.parametrize("case", ERRORS, ids=[c.id for c in ERRORS])
def test_an_impossible_strict_request_is_our_one_line_error_in_both(contract, case):
    result, error = contract[case.id], case.expect(VERSION).error
    assert result.get("error", "").startswith(f"{case.error_type}: {error}"), f"{where(case)}: {result}"
    assert result["explain"]["error"].startswith(f"vllm-ascend-graphs: error: {error}"), where(case)
