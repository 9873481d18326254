"""`explain --model M` tells what `LLM(model=M)` will do, here on vLLM's CPU build.

A third-party backend that serves on a CPU host is installed (a real dist-info with its entry
point, on `sys.path` of a fresh process), and prefers itself for `auto`: the case where `explain`
and vLLM used to disagree, because inside vLLM's CPU build the request already says NONE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PLUGIN = textwrap.dedent('''
    from vllm_ascend_graphs import GraphBackend, Plan, Probe, hookimpl
    from vllm_ascend_graphs.rules.modes import resolve


    class SimGraphs(GraphBackend):
        name = "simgraphs"
        description = "graphs on the simulated device, which runs on any CPU host"
        device = "sim"

        def probe(self, request, environment, model):
            return Probe.ok("the simulated device runs here")

        def plan(self, request, environment, model):
            settings = resolve(request, environment, model)
            return Plan(self.name, settings.cudagraph_mode, capture_sizes=settings.capture_sizes,
                        notes=settings.notes)


    @hookimpl
    def graph_backends():
        return [SimGraphs()]


    @hookimpl
    def graph_backend_preference():
        return "simgraphs"
''')

SCRIPT = textwrap.dedent('''
    import contextlib, io, json, sys
    from vllm import LLM
    from vllm_ascend_graphs.entrypoints import cli
    from vllm_ascend_graphs.integrations.vllm import decision_of

    model, scenarios = sys.argv[1], json.loads(sys.argv[2])
    answers = []
    for additional, mode in scenarios:
        argv = ["explain", "--json", "--model", model, "--additional-config", json.dumps(additional),
                "--enforce-eager", "--max-num-seqs", "8"] + (["--cudagraph-mode", mode] if mode else [])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli.main(argv) == 0
        compilation = {"cudagraph_mode": mode} if mode else {}
        llm = LLM(model=model, dtype="float32", max_model_len=128, kv_cache_memory_bytes=32 << 20, max_num_seqs=8,
                  enforce_eager=True, additional_config=additional, compilation_config=compilation)
        answers.append({"explain": json.loads(out.getvalue()), "llm": decision_of(llm)})
        llm.llm_engine.engine_core.shutdown()
    print("ANSWERS", json.dumps(answers))
''')

SCENARIOS = [({}, None), ({"graph_backend": "simgraphs"}, "FULL"), ({"graph_backend": "eager"}, None),
             ({"graph_backend": ["aclgraph", "simgraphs"]}, "PIECEWISE")]
COMPARED = ("backend", "cudagraph_mode", "npugraph_ex", "static_kernel", "capture_sizes", "trail")


def test_explain_gives_what_llm_records_with_a_cpu_serving_plugin_installed(tiny_model, tmp_path):
    info = tmp_path / "simgraphs_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: simgraphs-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[vllm_ascend_graphs]\nsimgraphs = simgraphs_plugin\n")
    (tmp_path / "simgraphs_plugin.py").write_text(PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    env.pop("ASCEND_GRAPHS_ASSUME", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT, tiny_model, json.dumps(SCENARIOS)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("ANSWERS ")]
    answers = json.loads(line.split(" ", 1)[1])
    for (additional, mode), answer in zip(SCENARIOS, answers, strict=True):
        explained, recorded = answer["explain"], answer["llm"]
        assert {k: explained[k] for k in COMPARED} == {k: recorded[k] for k in COMPARED}, (additional, mode)
        assert recorded["overrides"] == []
    assert [a["llm"]["backend"] for a in answers] == ["simgraphs", "simgraphs", "eager", "simgraphs"]
    assert all(a["llm"]["cudagraph_mode"] == "NONE" for a in answers)  # vLLM's CPU build captures no graphs
    assert "vLLM's cpu platform captures no graphs" in answers[0]["llm"]["notes"]
