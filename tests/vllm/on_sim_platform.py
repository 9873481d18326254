"""vLLM on the example sim platform (examples/sim_backend), in one fresh process.

The example is installed with the real pip into a temporary folder, so its two entry points
(the graph backend `sim`, vLLM's platform plugin) come from the dist-info pip writes; the process
that runs it has that folder on its path and `VAG_SIM_PLATFORM=1`, so vLLM picks the platform.
For each scenario the process asks `explain` the question, builds the `LLM`, generates, and
reports the record and what the simulated device did. vLLM's compile cache goes to a temporary
folder, so every piece is compiled and captured afresh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sim_backend"
PLATFORM = "vag_sim.platform.SimGraphPlatform"
MAX_TOKENS = 8
PROMPTS = ["Graph mode captures a model", "The quick brown fox", "Hello, how are you?"]


class Scenario(NamedTuple):
    """One request, as `LLM` keyword arguments and as the same question to `explain`."""

    name: str
    engine: dict[str, Any]
    explain: list[str]


def scenario(name: str, additional: dict[str, Any] | None = None, *, seqs: int, sizes: list[int] | None = None,
             eager: bool = False) -> Scenario:
    engine: dict[str, Any] = {"max_num_seqs": seqs, "additional_config": additional or {}, "enforce_eager": eager}
    argv = ["--max-num-seqs", str(seqs), "--additional-config", json.dumps(additional or {})]
    if sizes:
        engine["compilation_config"] = {"cudagraph_capture_sizes": sizes}
        argv += ["--capture-sizes", ",".join(map(str, sizes))]
    if eager:
        argv.append("--enforce-eager")
    return Scenario(name, engine, argv)


SCENARIOS = [
    scenario("auto", seqs=4, sizes=[1, 2, 4]),  # the sim backend, preferred on this platform
    scenario("eager", seqs=4, sizes=[1, 2, 4], eager=True),  # the same request, enforce_eager: the reference
    scenario("native", {"graph_backend": "native"}, seqs=4, sizes=[1, 2, 4]),  # the platform's own wrapper
    scenario("two sequences", seqs=2),  # the sizes the plan chooses itself
]

SCRIPT = '''
import contextlib, io, json, sys
from vllm import LLM, SamplingParams
import vag_sim
from vllm_ascend_graphs.entrypoints import cli
from vllm_ascend_graphs.integrations.vllm import adapter, decision_of, runtime_hooks

model, max_tokens, prompts, scenarios = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
compiled = []
compile_stage = vag_sim.SimBackend.compile


def counted(self, graph_module, example_inputs, plan):
    compiled.append(plan.backend)
    return compile_stage(self, graph_module, example_inputs, plan)


vag_sim.SimBackend.compile = counted


def sim_events():
    graphs = runtime_hooks._devices.get("sim")
    return [] if graphs is None else list(graphs[0].api.events)


def explain(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["explain", "--json", "--model", model, *argv]) == 0
    return json.loads(out.getvalue())


answers = []
for name, engine, argv in scenarios:
    explained = explain("--assume", "static_graphs=true", *argv)  # this platform captures graphs
    as_cpu = explain(*argv)  # as if on vLLM's CPU platform, which captures none
    before, compiled_before = len(sim_events()), len(compiled)
    llm = LLM(model=model, dtype="float32", max_model_len=128, kv_cache_memory_bytes=32 << 20, **engine)
    params = SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True)
    tokens = [list(o.outputs[0].token_ids) for o in llm.generate(prompts, params, use_tqdm=False)]
    events = sim_events()[before:]
    answers.append({"name": name, "explain": explained, "explain_as_cpu": as_cpu, "record": decision_of(llm),
                    "platform": adapter.platform_name(), "tokens": tokens, "captures": events.count("capture"),
                    "replays": events.count("replay"), "compiled": len(compiled) - compiled_before})
    llm.llm_engine.engine_core.shutdown()
print("ANSWERS", json.dumps(answers))
'''


def install(folder: Path) -> Path:
    """pip-install the example (from a copy: the build writes next to its sources) into `folder`/site."""
    source, site = folder / "sim_backend", folder / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", "install", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(source)], check=True)
    return site


def run(model: str, folder: Path) -> dict[str, dict[str, Any]]:
    """Install the example and run every scenario in one process; the answers by scenario name."""
    site = install(folder)
    env = {key: value for key, value in os.environ.items()
           if key not in ("ASCEND_GRAPHS_ASSUME", "ASCEND_GRAPHS_PLUGINS")}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")])), VAG_SIM_PLATFORM="1",
               VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_CACHE_ROOT=str(folder / "vllm-cache"))
    done = subprocess.run([sys.executable, "-c", SCRIPT, model, str(MAX_TOKENS), json.dumps(PROMPTS),
                           json.dumps(SCENARIOS)], capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("ANSWERS ")]
    return {answer["name"]: answer for answer in json.loads(line.split(" ", 1)[1])}
