"""vLLM's OpenAI server with the plugin, started with the command the README gives (docs/serving.md).

Server starts are slow on two cores (every vLLM process imports vLLM: the server, its engine core
and its worker), so they all begin at once: one server that serves, whose checks share it, and one
start per bad `additional_config`, each of which must fail before the model loads. The failing
starts are forked after one import of vLLM's server module (`server_starts.py`), each then running
that module as `python -m` does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vllm_ascend_graphs.integrations.vllm import RECORD_KEY
from vllm_ascend_graphs.integrations.vllm.metrics import METRIC

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- not run: a server runs until stopped; tests/vllm/test_serving.py starts this command -->"
REQUESTS, IN_FLIGHT, NEW_TOKENS = 64, 16, 16
PROCESS = re.compile(r"^\(\w+ pid=\d+\) ")  # older vLLM prefixes every line a process prints, tracebacks too
START_TIMEOUT = 900  # seconds: generous, for a shared machine (about one minute on two idle cores)
BAD_CONFIGS = {
    "unknown-backend": ({"graph_backend": "nope"},
                        "additional_config.graph_backend: unknown graph backend 'nope'; allowed: auto, aclgraph, "
                        "eager, native, xlite"),
    "backend-not-a-string": ({"graph_backend": 3},
                             "additional_config.graph_backend: got 3 (int); allowed: 'auto', a backend name, or a "
                             "non-empty list of backend names"),
    "xlite-enabled-not-a-bool": ({"xlite_graph_config": {"enabled": "yes"}},
                                 "additional_config.xlite_graph_config.enabled: got 'yes'; allowed: true or false"),
    "xlite-strict-without-cann": ({"graph_backend": "xlite", "graph_fallback": False},
                                  "additional_config.graph_backend: backend 'xlite' cannot serve here: xlite "),
}


def documented_command(path: Path) -> str:
    """The server command of the block after MARKER in `path`, continuation lines joined."""
    text = path.read_text(encoding="utf-8")
    block = re.search(re.escape(MARKER) + r"\s*\n```sh\n(.*?)\n```", text, re.DOTALL)
    assert block, f"{path.name}: no server block marked {MARKER!r}"
    joined = block.group(1).replace("\\\n", " ")
    (command,) = [line for line in joined.splitlines() if "vllm.entrypoints.openai.api_server" in line]
    return " ".join(command.split())


def server_argv(model: str, port: int, additional_config: dict | None = None) -> list[str]:
    """The documented command, on the test's model and a free port (and another additional_config)."""
    argv = shlex.split(documented_command(ROOT / "README.md"))
    assert argv[:3] == [".venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"], argv
    values = {flag: index + 1 for index, flag in enumerate(argv) if flag.startswith("--")}
    argv[values["--model"]], argv[values["--port"]] = model, str(port)
    if additional_config is not None:
        argv[values["--additional-config"]] = json.dumps(additional_config)
    return [sys.executable, *argv[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def watch(port: int, answers: list[int], running, until_ready: bool) -> None:
    """Ask /health while `running()`, noting each HTTP status; stop at the first 200 if `until_ready`."""
    deadline = time.monotonic() + START_TIMEOUT
    while running() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                answers.append(response.status)
                if response.status == 200 and until_ready:
                    return
        except urllib.error.HTTPError as exc:
            answers.append(exc.code)
        except OSError:  # refused, reset or timed out: no answer
            pass
        time.sleep(0.5)


class Server:
    """The documented command, started as a process of its own: it must serve."""

    def __init__(self, model: str, log: Path, **env: str):
        self.port, self.log = free_port(), log
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "1", **env}
        with open(log, "w") as out:
            self.process = subprocess.Popen(server_argv(model, self.port), cwd=ROOT, env=environment, stdout=out,
                                            stderr=subprocess.STDOUT)
        self.answers: list[int] = []
        running = self.process.poll
        self.watcher = threading.Thread(target=watch, args=(self.port, self.answers, lambda: running() is None, True),
                                        daemon=True)
        self.watcher.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_started(self) -> None:
        self.watcher.join(START_TIMEOUT)
        assert self.answers[-1:] == [200], f"the server did not start:\n{self.log.read_text()[-4000:]}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class FailingStarts:
    """The documented command once per bad `additional_config`, each start forked after one import of
    vLLM's server module (`server_starts.py`); every HTTP status any of them gave while it ran."""

    def __init__(self, model: str, logs: Path):
        self.logs = {name: logs / f"{name}.log" for name in BAD_CONFIGS}
        ports = {name: free_port() for name in BAD_CONFIGS}
        cases = [[str(self.logs[name]), server_argv(model, ports[name], config)[3:]]
                 for name, (config, _) in BAD_CONFIGS.items()]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("server_starts.py")),
                                         json.dumps(cases)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        self.answers: dict[str, list[int]] = {name: [] for name in BAD_CONFIGS}
        self.watchers = [threading.Thread(target=watch, args=(ports[name], self.answers[name],
                                                              lambda: self.process.poll() is None, False), daemon=True)
                         for name in BAD_CONFIGS]
        for watcher in self.watchers:
            watcher.start()
        self._codes: dict[str, int] | None = None

    def result(self, name: str) -> tuple[int, str, list[int]]:
        """(exit status, output, HTTP statuses) of one start."""
        if self._codes is None:
            out, _ = self.process.communicate(timeout=START_TIMEOUT)
            for watcher in self.watchers:
                watcher.join()
            self._codes = json.loads(out.splitlines()[-1]) if out.strip() else {}
        log = self.logs[name]
        return self._codes[str(log)], log.read_text(errors="replace"), self.answers[name]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def servers(tiny_model, tmp_path_factory):
    """Every start of this module, begun together: "good" serves, the failing starts must not."""
    logs = tmp_path_factory.mktemp("servers")
    good = Server(tiny_model, logs / "good.log", VLLM_LOGGING_LEVEL="WARNING", VLLM_SERVER_DEV_MODE="1")
    failing = FailingStarts(tiny_model, logs)
    yield good, failing
    good.stop()
    failing.stop()


@pytest.fixture(scope="module")
def good(servers):
    servers[0].wait_started()
    return servers[0]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of `name` in Prometheus' text format: (labels, value)."""
    samples = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1:].rsplit("} ", 1)
            samples.append((dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)))
    return samples


def test_the_readme_and_the_serving_doc_give_the_same_command():
    assert documented_command(ROOT / "README.md") == documented_command(ROOT / "docs" / "serving.md")


def test_64_completions_16_in_flight_none_lost(good, tiny_model):
    def complete(index: int) -> tuple[int, dict]:
        return index, post(good.url("/v1/completions"), {
            "model": tiny_model, "prompt": f"Request {index}: the quick brown fox", "max_tokens": NEW_TOKENS,
            "temperature": 0, "ignore_eos": True})

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        answers = dict(pool.map(complete, range(REQUESTS)))  # an HTTP error raises here
    assert sorted(answers) == list(range(REQUESTS))
    assert len({answer["id"] for answer in answers.values()}) == REQUESTS
    assert all(answer["usage"]["completion_tokens"] == NEW_TOKENS and answer["choices"][0]["finish_reason"] == "length"
               for answer in answers.values())
    metrics = get(good.url("/metrics"))
    finished = sum(value for labels, value in metric_samples(metrics, "vllm:request_success_total"))
    assert finished == REQUESTS  # the server counted every request as finished, none aborted


def test_the_decision_is_on_metrics_and_in_server_info(good, tiny_model):
    info = json.loads(get(good.url("/server_info?config_format=json")))
    config = info["vllm_config"]
    record = config["additional_config"][RECORD_KEY]
    assert (record["requested"], record["backend"], record["cudagraph_mode"]) == ("aclgraph", "eager", "NONE")
    max_num_seqs = config["scheduler_config"]["max_num_seqs"]
    (labels, value), = metric_samples(get(good.url("/metrics")), METRIC)
    assert value == 1.0
    assert labels == {"model_name": tiny_model, "backend": "eager", "requested": "aclgraph", "cudagraph_mode": "NONE",
                      "npugraph_ex": "false", "static_kernel": "false", "full_graphs": "none",
                      "piecewise_graphs": "none", "eager_decode_batches": f"1-{max_num_seqs}"}


def test_a_named_backend_that_falls_back_is_one_warning_at_warning_level(good):
    """At VLLM_LOGGING_LEVEL=WARNING the operator still reads what was asked, what runs and why."""
    lines = [line for line in good.output().splitlines() if "graph backend" in line]
    assert len(lines) == 1, lines  # only the front end decides; the engine core applies the record (DEBUG)
    assert " WARNING " in lines[0]
    assert lines[0].endswith("graph backend: aclgraph was asked for, eager runs instead, cudagraph_mode NONE "
                             "(aclgraph: no Ascend NPU here (device: cpu); native: vLLM's cpu platform captures no "
                             "graphs; xlite: not requested)")


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_additional_config_fails_the_start_with_our_line_first(servers, case):
    code, output, answers = servers[1].result(case)
    message = BAD_CONFIGS[case][1]
    assert code == 1, output[-3000:]
    assert answers == [], "a server whose plan failed answered HTTP requests"
    lines = [PROCESS.sub("", line) for line in output.splitlines()]
    problems = [line for line in lines if re.search(r"\bERROR\b|^Traceback|^[\w.]+(Error|Exception)\b", line)]
    ours = problems[0].split("] ", 1)[-1]
    assert re.search(r"\bERROR\b", problems[0]) and ours.startswith(message), output[-3000:]
    assert "; allowed: " in ours
    assert problems[-1].endswith(f"Error: {ours}")  # the traceback follows, and ends with the same message
    assert "Loading safetensors" not in output and "EngineCore" not in output  # before the model, no engine
