"""The CLI as a user runs it: one screen of explanation, one line per error, no torch imported."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vllm_ascend_graphs.entrypoints.cli import main

DONE_WHEN = ["explain", "--architecture", "Qwen3ForCausalLM", "--assume", "device=npu,soc=910B",
             "--additional-config", '{"xlite_graph_config": {"enabled": true}}']


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_xlite_asked_for_but_missing(capsys, monkeypatch):
    # Whatever this machine has: tests/real/test_xlite_probe.py covers an installed xlite that is not ready.
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "xlite=absent")
    code, out, err = run(capsys, *DONE_WHEN)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) <= 25, "must fit one screen"
    assert "Backend:        aclgraph" in out
    assert "cudagraph_mode: FULL_AND_PIECEWISE" in out
    assert "XliteGraph was asked for by xlite_graph_config.enabled=true" in out
    xlite_line = next(line for line in lines if line.strip().startswith("xlite"))
    assert "skipped" in xlite_line and "xlite is not installed: install it with `pip install --pre xlite`" in xlite_line
    assert any(line.strip().startswith("aclgraph") and "SELECTED" in line for line in lines)


def test_explain_json_has_the_documented_keys(capsys, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["DeepseekV3ForCausalLM"],
                                                      "kv_lora_rank": 512}))
    code, out, _ = run(capsys, "explain", "--model", str(tmp_path), "--cudagraph-mode", "full",
                       "--assume", "device=npu", "--assume", "soc=910_93", "--capture-sizes", "1,2,4,8", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["backend"] == "aclgraph" and data["cudagraph_mode"] == "FULL_DECODE_ONLY"
    assert (data["npugraph_ex"], data["static_kernel"], data["capture_sizes"]) == (True, False, [1, 2, 4, 8])
    assert data["trail"] == [{"backend": "aclgraph", "selected": True,
                              "reason": "torch_npu (assumed) with the NPU graph API on npu 910_93"}]
    assert any("AscendMLABackend" in note for note in data["notes"])


XLITE_DEEPSEEK = ["explain", "--json", "--architecture", "DeepseekV32ForCausalLM", "--additional-config",
                  '{"xlite_graph_config": {"enabled": true}}', "--assume", "device=npu,soc=910B,xlite=0.2.0rc4"]


@pytest.mark.parametrize(("assume", "environ", "backend", "reason"), [
    ([], "", "aclgraph", "DeepseekV32ForCausalLM has no xlite adapter in vllm-ascend 0.23.0.post1 (built-in table); "),
    (["--assume", "vllm_ascend=main"], "", "xlite",
     "xlite 0.2.0rc4 supports DeepseekV32ForCausalLM on npu with vllm-ascend main (built-in table)"),
    ([], "vllm_ascend=main", "xlite", "xlite 0.2.0rc4 supports DeepseekV32ForCausalLM on npu with vllm-ascend main"),
    (["--assume", "vllm_ascend=0.26.0rc"], "vllm_ascend=main", "aclgraph",
     "DeepseekV32ForCausalLM has no xlite adapter in vllm-ascend 0.26.0rc (built-in table); "),
])
def test_explain_plans_for_the_assumed_vllm_ascend_release(capsys, monkeypatch, assume, environ, backend, reason):
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", environ)
    code, out, err = run(capsys, *XLITE_DEEPSEEK, *assume)
    data = json.loads(out)
    assert (code, err, data["backend"]) == (0, "", backend)
    assert data["trail"][0]["backend"] == "xlite" and data["trail"][0]["reason"].startswith(reason)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["explain", "--assume", "vllm_ascend=0.25"],
         ["--assume vllm_ascend: got '0.25'; allowed: 0.23.0.post1, 0.26.0rc, main"]),
        (["explain", "--additional-config", "{not json"], ["--additional-config: not valid JSON"]),
        (["explain", "--additional-config", '{"graph_backend": "xlit"}'], ["did you mean 'xlite'?"]),
        (["explain", "--additional-config", '{"graph_backend": "aclgraph", "graph_fallback": false}'],
         ["cannot serve here"]),
        (["explain", "--cudagraph-mode", "half"], ["compilation_config.cudagraph_mode: got 'half'"]),
        (["explain", "--capture-sizes", "1,x"], ["cudagraph_capture_sizes[1]: got 'x'"]),
        (["explain", "--model", "/nonexistent-model-dir"], ["no config.json"]),
        (["list", "--assume", "device=gpu"], ["--assume device: got 'gpu'"]),
        # Unicode digits pass str.isdigit() but not int().
        (["explain", "--assume", "tp=²"], ["--assume tp: got '²'; allowed: an integer from 1 to"]),
        (["explain", "--capture-sizes", "²"], ["cudagraph_capture_sizes[0]: got '²'; allowed: a positive integer"]),
        (["explain", "--capture-sizes", "1,٣"], ["cudagraph_capture_sizes[1]: got '٣'"]),
        (["explain", "--max-num-seqs", "²"], ["max_num_seqs: got '²'"]),
        # Numbers past int()'s 4300-digit limit, and past any batch size.
        (["explain", "--capture-sizes", "9" * 5000], ["cudagraph_capture_sizes[0]: got '9999", "...; allowed"]),
        (["explain", "--capture-sizes", "4294967296"], ["cudagraph_capture_sizes[0]: got 4294967296 (int)"]),
        (["explain", "--max-num-seqs", "9" * 5000], ["max_num_seqs: got '9999"]),
        (["explain", "--assume", "tp=" + "9" * 5000], ["--assume tp: got '9999"]),
        (["explain", "--additional-config", '{"graph_fallback": ' + "9" * 5000 + "}"],
         ["--additional-config: unreadable JSON (Exceeds the limit (4300 digits)"]),
        (["explain", "--additional-config", '{"graph_backend_options": {"eager": {"x": ' + "9" * 4000 + "}}}"],
         ["graph_backend_options.eager: got keys ['x']"]),
        (["explain", "--additional-config", '{"graph_fallback": ' + "1" * 4000 + "}"],
         ["additional_config.graph_fallback: got <int of about 4000 digits> (int); allowed: true or false"]),
        # JSON nested deeper than the parser's recursion limit, and just under it.
        (["explain", "--additional-config", "[" * 3000 + "]" * 3000], ["--additional-config: JSON nested too deeply"]),
        (["explain", "--additional-config", '{"graph_backend": ' + "[" * 900 + "]" * 900 + "}"],
         ["additional_config.graph_backend[0]: got [[[[[...]]]]] (list)"]),
        (["explain", "--additional-config", '{"xlite_graph_config": {"enabled": ' + "[" * 900 + "]" * 900 + "}}"],
         ["xlite_graph_config.enabled: got [[[[[...]]]]] (list); allowed: true or false"]),
        (["explain", "--architecture", ""], ["--architecture: got ''; allowed: an architecture name"]),
        (["explain", "--compilation-mode", "inductor"],
         ["--compilation-mode: got 'inductor'; allowed: NONE, STOCK_TORCH_COMPILE, DYNAMO_TRACE_ONCE, VLLM_COMPILE or "
          "0 to 3"]),
        (["explain", "--compilation-mode", "7"], ["--compilation-mode: got '7'"]),
        (["explain", "--max-num-batched-tokens", "0"], ["max_num_batched_tokens: got 0 (int); allowed: a positive"]),
        (["explain", "--max-capture-size", "x"], ["compilation_config.max_cudagraph_capture_size: got 'x'"]),
        (["explain", "--architecture", "  "], ["--architecture: got '  '"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("vllm-ascend-graphs: error: ")
    for word in words:
        assert word in err


@pytest.mark.parametrize(("config", "words"), [
    ({"architectures": [1 + 10**5000]}, ["config.json architectures: got [<int of about 5001 digits>]"]),
    ({"architectures": [""]}, ["config.json architectures[0]: got ''"]),
    ({"architectures": "Qwen3ForCausalLM"}, ["config.json architectures: got 'Qwen3ForCausalLM'; allowed: a list"]),
])
def test_bad_model_configs_are_one_line_errors(capsys, tmp_path, config, words):
    import sys

    sys.set_int_max_str_digits(0)  # to write the giant number; reading it back hits the default limit again
    try:
        (tmp_path / "config.json").write_text(json.dumps(config))
    finally:
        sys.set_int_max_str_digits(4300)
    code, out, err = run(capsys, "explain", "--model", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "cannot read" in err or all(word in err for word in words)


@pytest.mark.parametrize(("text", "words"), [
    ('{"architectures": [' + "9" * 5000 + "]}", "cannot read '{path}': Exceeds the limit (4300 digits)"),
    ("[" * 3000 + "]" * 3000, "'{path}' is nested too deeply to read"),
    ("{not json", "cannot read '{path}': Expecting property name"),
])
def test_unreadable_model_configs_are_one_line_errors(capsys, tmp_path, text, words):
    (tmp_path / "config.json").write_text(text)
    code, out, err = run(capsys, "explain", "--model", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert words.format(path=tmp_path / "config.json") in err


def test_an_unknown_architecture_is_accepted_with_a_note(capsys):
    code, out, _ = run(capsys, "explain", "--architecture", "Gemma7ForCausalLM", "--json")
    notes = json.loads(out)["notes"]
    assert code == 0
    assert notes[0].startswith("architecture 'Gemma7ForCausalLM' is not one this package knows: it is planned as "
                               "family 'other'")
    code, out, _ = run(capsys, "explain", "--architecture", "Qwen3ForCausalLM", "--json")
    assert not any("not one this package knows" in note for note in json.loads(out)["notes"])


def test_a_reader_that_closes_the_pipe_gets_no_traceback():
    """`vllm-ascend-graphs list | head -1`, made deterministic: the pipe is closed before the first write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "vllm_ascend_graphs", "list"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "ASCEND_GRAPHS_PLUGINS": ""},
                              timeout=60)
    finally:
        os.close(write_end)
    assert done.stderr == "" and done.returncode == 141


def test_a_head_reading_one_line_gets_no_traceback():
    done = subprocess.run(f"{sys.executable} -m vllm_ascend_graphs list | head -1", shell=True, capture_output=True,
                          text=True, env={**os.environ, "ASCEND_GRAPHS_PLUGINS": ""}, timeout=60)
    assert done.stdout.startswith("Environment: ") and done.stderr == ""


def test_list_shows_every_backend_and_whether_it_can_serve(capsys):
    code, out, _ = run(capsys, "list", "--json", "--assume", "device=npu")
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert code == 0 and set(rows) == {"aclgraph", "eager", "native", "xlite"}
    assert rows["aclgraph"]["can_serve"] is True and rows["aclgraph"]["origin"] == "builtin"
    assert rows["xlite"]["can_serve"] is False and "not requested" in rows["xlite"]["reason"]
    assert rows["eager"]["status"] == "loaded"


def test_list_reports_plugin_failures_with_exit_code_1_and_tracebacks_with_v(capsys, builtins_only):
    from vllm_ascend_graphs import hookimpl

    class Raising:
        @hookimpl
        def graph_backends(self):
            raise RuntimeError("no licence")

    builtins_only.register(Raising(), "licensed")
    code, out, err = run(capsys, "list")
    assert code == 1, "CI can tell that a plugin failed"
    assert "licensed" in out and "status: failed: RuntimeError: no licence" in out
    assert "Traceback" not in err
    code, out, err = run(capsys, "list", "--verbose")
    assert code == 1
    assert "traceback of plugin licensed:\nTraceback (most recent call last):" in err
    assert 'raise RuntimeError("no licence")' in err


def test_list_shows_plugins_left_out_by_the_allow_list_as_disabled(capsys, monkeypatch):
    from vllm_ascend_graphs.hooks.registry import BackendRegistry, reset_registry
    from vllm_ascend_graphs.probes.distributions import Distribution, EntryPoint

    dist = Distribution("acme-graphs", "1.0", "acme_graphs-1.0.dist-info")
    reset_registry(BackendRegistry([EntryPoint("acme", "acme_graphs", "vllm_ascend_graphs", dist)], allow="").load())
    code, out, _ = run(capsys, "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert code == 0, "a disabled plugin is no failure"
    assert rows["acme"]["status"] == "disabled: not in ASCEND_GRAPHS_PLUGINS=''"
    assert rows["acme"]["origin"] == "acme-graphs 1.0 (entry point 'acme')" and rows["acme"]["can_serve"] is False


def test_import_and_list_import_no_torch():
    """In a fresh interpreter: the package, `list` and `explain` never import torch, torch_npu or vllm."""
    code = (
        "import sys, vllm_ascend_graphs\n"
        "assert 'pluggy' not in sys.modules, 'import must stay lazy'\n"
        "from vllm_ascend_graphs.entrypoints.cli import main\n"
        "assert main(['list']) == 0\n"
        "assert main(['explain', '--architecture', 'LlamaForCausalLM', '--assume', 'device=npu']) == 0\n"
        "heavy = sorted(m for m in ('torch', 'torch_npu', 'vllm', 'xlite') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "ASCEND_GRAPHS_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def test_module_entry_point_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "vllm_ascend_graphs", "explain", "--json"],
                            capture_output=True, text=True, env={**os.environ, "ASCEND_GRAPHS_PLUGINS": ""})
    assert result.returncode == 0 and json.loads(result.stdout)["backend"] in ("eager", "aclgraph")


# -- property: whatever the arguments, a result or one line, never a traceback ---------------------

awkward_text = st.sampled_from(["", " ", "²", "٣", "-1", "0", "1", "8", "9" * 5000, "1e3", "None", "null", "x" * 200,
                                "FULL", "eager", "auto", "\u0000", "é", "[", "{"]) | st.text(max_size=8)
json_texts = st.sampled_from(["{}", "[]", "null", "1", '"x"', "{", "[" * 3000, "[" * 900 + "]" * 900,
                              '{"graph_backend": ' + "9" * 5000 + "}", '{"graph_backend": "xlit"}',
                              '{"graph_backend_options": {"auto": {}}}', '{"graph_backend_options": {"eager": []}}',
                              '{"xlite_graph_config": {"enabled": true}, "graph_backend": "eager"}']) | awkward_text
explain_options = st.lists(st.sampled_from([
    ("--architecture", awkward_text), ("--additional-config", json_texts), ("--cudagraph-mode", awkward_text),
    ("--capture-sizes", awkward_text), ("--max-num-seqs", awkward_text),
    ("--assume", st.builds("{}={}".format,
                           st.sampled_from(["tp", "device", "soc", "attention", "xlite", "vllm_ascend", "x"]),
                           awkward_text)),
]).flatmap(lambda option: st.tuples(st.just(option[0]), option[1])), max_size=4)


@settings(max_examples=300, deadline=None)
@given(command=st.sampled_from(["explain", "list"]), options=explain_options, as_json=st.booleans())
def test_arbitrary_arguments_give_a_result_or_one_line(command, options, as_json):
    argv = [command, *(["--json"] if as_json else [])]
    for flag, value in options:
        if command == "list" and flag != "--assume":
            continue
        argv += [flag, value]
    out_buffer, err_buffer = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out_buffer), contextlib.redirect_stderr(err_buffer):
            code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors: usage and one error line, exit code 2
        assert exc.code == 2
        return
    out, err = out_buffer.getvalue(), err_buffer.getvalue()
    assert code in (0, 2), err
    if code == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("vllm-ascend-graphs: error: ")
    elif as_json:
        json.loads(out)


def test_verbose_adds_its_stderr_handler_once_per_process(capsys):
    import logging

    logger = logging.getLogger("vllm_ascend_graphs")
    before = list(logger.handlers)
    for _ in range(3):
        main(["list", "-v", "--json"])
    capsys.readouterr()
    added = [h for h in logger.handlers if h not in before]
    assert len(added) == 1
