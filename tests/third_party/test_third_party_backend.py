"""The example third-party backend, installed with the real pip: listed with its origin, selected by
name, falling back on the CPU with its reason, and capturing and replaying on the simulated device.

The package is installed for this module only and uninstalled afterwards, so no other test sees it.
The CLI runs with `device=cpu` assumed, so the answers are the same on a machine with a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vllm_ascend_graphs import Environment, GraphConfigError, GraphRequest, ModelInfo, select
from vllm_ascend_graphs.hooks.registry import BackendRegistry
from vllm_ascend_graphs.probes.distributions import clear_cache
from vllm_ascend_graphs.rules.capture_plan import default_capture_sizes
from vllm_ascend_graphs.rules.modes import CUDAGraphMode
from vllm_ascend_graphs.runtime.devices.sim import SimDevice, sim_graphs
from vllm_ascend_graphs.runtime.reference_decoder import ReferenceDecoder
from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "third_party_backend"
MODULE = EXAMPLE / "src" / "vag_cudagraph" / "__init__.py"
DISTRIBUTION = "vllm-ascend-graphs-cudagraph"
CLI = Path(sys.executable).parent / "vllm-ascend-graphs"
NO_CUDA = "no CUDA device here (device: cpu)"
CUDA_MACHINE = Environment(device="cuda", torch="2.13.0+cu130")


@pytest.fixture(scope="module")
def installed():
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(EXAMPLE)], check=True)
    clear_cache()
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "--yes", DISTRIBUTION], check=True)
        clear_cache()


@pytest.fixture(scope="module")
def registry(installed):
    """What this process loads now: the builtins and the installed entry point, nothing else."""
    src = str(EXAMPLE / "src")
    sys.path.insert(0, src)  # what the editable install's .pth file adds when an interpreter starts
    try:
        yield BackendRegistry(allow="cudagraph").load()
    finally:
        sys.path.remove(src)
        sys.modules.pop("vag_cudagraph", None)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    """A fresh process with every installed plugin allowed and a CPU machine assumed."""
    env = {key: value for key, value in os.environ.items() if key != "ASCEND_GRAPHS_PLUGINS"}
    env["ASCEND_GRAPHS_ASSUME"] = "device=cpu"
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return run(str(CLI), *argv)


def test_list_shows_the_backend_with_its_origin_and_why_it_cannot_serve(installed):
    done = cli("list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["backends"]}
    assert rows["cudagraph"] == {
        "name": "cudagraph", "aliases": ["cuda-graph"],
        "description": "CUDA graphs (torch.cuda.CUDAGraph) on an NVIDIA GPU",
        "origin": f"{DISTRIBUTION} 0.1.0 (entry point 'cudagraph')", "status": "loaded",
        "can_serve": False, "reason": NO_CUDA,
    }


@pytest.mark.parametrize("name", ["cudagraph", "CUDA-Graph"])
def test_explain_selects_it_by_name_and_falls_back_to_eager_with_its_reason(installed, name):
    done = cli("explain", "--additional-config", json.dumps({"graph_backend": name}), "--json")
    assert done.returncode == 0, done.stderr
    selection = json.loads(done.stdout)
    assert selection["backend"] == "eager"
    assert selection["trail"] == [
        {"backend": "cudagraph", "selected": False, "reason": NO_CUDA},
        {"backend": "eager", "selected": True, "reason": "eager execution runs everywhere"},
    ]


def test_without_fallback_it_is_a_one_line_error_with_exit_code_2(installed):
    done = cli("explain", "--additional-config", '{"graph_backend": "cudagraph", "graph_fallback": false}')
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "vllm-ascend-graphs: error: additional_config.graph_backend: backend 'cudagraph' cannot serve here: "
        f"{NO_CUDA}; allowed: a backend that can serve, or additional_config.graph_fallback true to fall back"
    ]


def test_listing_with_the_plugin_imports_no_torch(installed):
    code = ("import sys; from vllm_ascend_graphs.entrypoints.cli import main; main(['list']); "
            "print('torch' in sys.modules)")
    done = run(sys.executable, "-c", code)
    assert "cudagraph" in done.stdout, done.stderr
    assert done.stdout.splitlines()[-1] == "False"


@pytest.mark.parametrize(("environment", "request_", "reason"), [
    (Environment(device="cuda", torch="2.13.0+cpu"), {}, "no CUDA build of torch here (torch: 2.13.0+cpu)"),
    (CUDA_MACHINE, {"enforce_eager": True}, "enforce_eager=True turns graph capture off"),
    (CUDA_MACHINE, {"cudagraph_mode": "NONE"}, "cudagraph_mode NONE asks for no graphs"),
])
def test_on_a_cuda_machine_it_still_refuses_what_it_cannot_serve(registry, environment, request_, reason):
    request = GraphRequest.parse({"graph_backend": "cudagraph"}, **request_)
    selection = select(request, environment=environment, model=ModelInfo(), registry=registry)
    assert [(a.backend, a.selected, a.reason) for a in selection.trail][0] == ("cudagraph", False, reason)


def test_on_a_cuda_machine_it_is_selected_with_vllms_mode_and_sizes(registry):
    selection = select({"graph_backend": "cudagraph"}, environment=CUDA_MACHINE, model=ModelInfo(), registry=registry)
    assert selection.trail[0].reason == "torch 2.13.0+cu130 on a CUDA device"
    plan = selection.plan
    assert (plan.backend, plan.cudagraph_mode) == ("cudagraph", CUDAGraphMode.FULL_AND_PIECEWISE)
    assert not plan.npugraph_ex and not plan.static_kernel
    assert plan.capture_sizes == default_capture_sizes(256)  # max_num_seqs 256


def test_with_auto_it_is_preferred_on_a_cuda_machine_only(registry):
    gpu = select(None, environment=CUDA_MACHINE, model=ModelInfo(), registry=registry)
    assert [(a.backend, a.selected) for a in gpu.trail] == [("cudagraph", True)]
    assert "plugins prefer cudagraph for other models here" in gpu.notes
    cpu = select(None, environment=Environment(device="cpu"), model=ModelInfo(), registry=registry)
    assert [a.backend for a in cpu.trail] == ["aclgraph", "native", "eager"]


def planned(registry, sizes):
    request = GraphRequest.parse({"graph_backend": "cudagraph"}, capture_sizes=sizes)
    selection = select(request, environment=CUDA_MACHINE, model=ModelInfo(), registry=registry)
    return selection.backend, selection.plan


def parity(runner, decoder, counts, *, uniform_decode):
    with torch.no_grad():
        for call, n in enumerate(counts):
            inputs = decoder.inputs(n, seed=call + 1)
            torch.testing.assert_close(runner(*inputs, uniform_decode=uniform_decode), decoder(*inputs),
                                       msg=lambda message, n=n: f"{n} tokens: {message}")


def test_its_capture_and_replay_serve_with_parity_on_the_sim_device(registry):
    backend, plan = planned(registry, [1, 2, 4, 8])
    decoder, sim = ReferenceDecoder(), SimDevice()
    runner = GraphRunner(decoder, plan.capture_sizes, RunnerOptions(device=sim_graphs(sim), mode=plan.cudagraph_mode),
                         backend=backend)
    runner.capture(decoder.inputs(2, seed=0))
    assert sorted(runner.captured) == [(size, uniform) for size in (1, 2, 4, 8) for uniform in (False, True)]
    counts = [1, 3, 4, 7, 8, 9, 2]  # 9 is above the largest size: eager
    for uniform in (True, False):
        parity(runner, decoder, counts, uniform_decode=uniform)
    assert sim.events.count("replay") == 2 * (len(counts) - 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_by_default_it_captures_on_cuda_which_is_absent_here(registry):
    with pytest.raises(GraphConfigError, match="graph device: got 'cuda', but torch sees no CUDA device here"):
        GraphRunner(lambda x: x, [1], backend=registry.get("cudagraph"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_its_capture_and_replay_serve_with_parity_on_cuda(registry):
    backend, plan = planned(registry, [1, 2, 4, 8])
    decoder = ReferenceDecoder().cuda()
    # Its own device: no device in the options.
    runner = GraphRunner(decoder, plan.capture_sizes, RunnerOptions(mode=plan.cudagraph_mode), backend=backend)
    runner.capture(decoder.inputs(2, seed=0))
    assert runner.graphs.name == "cuda" and len(runner.captured) == 8
    parity(runner, decoder, [1, 3, 4, 7, 8, 9, 2], uniform_decode=True)


def test_the_guide_shows_the_module_as_it_is():
    guide = (ROOT / "docs" / "writing-a-backend.md").read_text(encoding="utf-8")
    assert MODULE.read_text(encoding="utf-8") in guide, "docs/writing-a-backend.md must quote the example verbatim"


def test_the_writing_a_backend_doc_shows_a_pyproject_that_builds():
    """docs/writing-a-backend.md's pyproject.toml has the [build-system] table and the entry point of the
    example's own."""
    import tomllib

    guide = (ROOT / "docs" / "writing-a-backend.md").read_text(encoding="utf-8")
    shown = tomllib.loads(guide.split("```toml\n", 1)[1].split("```", 1)[0])
    real = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    assert shown["build-system"] == real["build-system"]
    assert shown["project"]["entry-points"] == real["project"]["entry-points"]
