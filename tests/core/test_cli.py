"""The CLI as a user runs it: one screen of explanation, one line per error, no torch imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vllm_ascend_graphs.cli import main

DONE_WHEN = ["explain", "--architecture", "Qwen3ForCausalLM", "--assume", "device=npu,soc=910B",
             "--additional-config", '{"xlite_graph_config": {"enabled": true}}']


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_xlite_asked_for_but_missing(capsys):
    code, out, err = run(capsys, *DONE_WHEN)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) <= 25, "must fit one screen"
    assert "Backend:        aclgraph" in out
    assert "cudagraph_mode: FULL_AND_PIECEWISE" in out
    assert "XliteGraph was asked for by xlite_graph_config.enabled=true" in out
    xlite_line = next(line for line in lines if line.strip().startswith("xlite"))
    # The test set-up installs xlite, whose native library needs CANN: installed, but not ready here.
    assert "skipped" in xlite_line and "is installed but not ready" in xlite_line and "libascendcl.so" in xlite_line
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


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["explain", "--additional-config", "{not json"], ["--additional-config: not valid JSON"]),
        (["explain", "--additional-config", '{"graph_backend": "xlit"}'], ["did you mean 'xlite'?"]),
        (["explain", "--additional-config", '{"graph_backend": "aclgraph", "graph_fallback": false}'],
         ["cannot serve here"]),
        (["explain", "--cudagraph-mode", "half"], ["compilation_config.cudagraph_mode: got 'half'"]),
        (["explain", "--capture-sizes", "1,x"], ["cudagraph_capture_sizes[1]: got 'x'"]),
        (["explain", "--model", "/nonexistent-model-dir"], ["no config.json"]),
        (["list", "--assume", "device=gpu"], ["--assume device: got 'gpu'"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("vllm-ascend-graphs: error: ")
    for word in words:
        assert word in err


def test_list_shows_every_backend_and_whether_it_can_serve(capsys):
    code, out, _ = run(capsys, "list", "--json", "--assume", "device=npu")
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert code == 0 and set(rows) == {"aclgraph", "eager", "native", "xlite"}
    assert rows["aclgraph"]["can_serve"] is True and rows["aclgraph"]["origin"] == "builtin"
    assert rows["xlite"]["can_serve"] is False and "not requested" in rows["xlite"]["reason"]
    assert rows["eager"]["status"] == "loaded"


def test_list_reports_plugin_failures(capsys, builtins_only):
    from vllm_ascend_graphs import hookimpl

    class Raising:
        @hookimpl
        def graph_backends(self):
            raise RuntimeError("no licence")

    builtins_only.register(Raising(), "licensed")
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert "licensed" in out and "status: failed: RuntimeError: no licence" in out


def test_import_and_list_import_no_torch():
    """In a fresh interpreter: the package, `list` and `explain` never import torch, torch_npu or vllm."""
    code = (
        "import sys, vllm_ascend_graphs\n"
        "assert 'pluggy' not in sys.modules, 'import must stay lazy'\n"
        "from vllm_ascend_graphs.cli import main\n"
        "assert main(['list']) == 0\n"
        "assert main(['explain', '--architecture', 'LlamaForCausalLM', '--assume', 'device=npu']) == 0\n"
        "heavy = sorted(m for m in ('torch', 'torch_npu', 'vllm', 'xlite') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "VLLM_ASCEND_GRAPHS_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def test_module_entry_point_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "vllm_ascend_graphs", "explain", "--json"],
                            capture_output=True, text=True, env={**os.environ, "VLLM_ASCEND_GRAPHS_PLUGINS": ""})
    assert result.returncode == 0 and json.loads(result.stdout)["backend"] in ("eager", "aclgraph")
