"""The general plugin: declared as an entry point, idempotent, reversible, alive in every process."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from vllm_ascend_graphs import GraphConfigError
from vllm_ascend_graphs.integrations import vllm as plugin
from vllm_ascend_graphs.integrations.vllm import RECORD_KEY, adapter, patching


def test_declared_in_vllm_general_plugins():
    (entry,) = [ep for ep in importlib.metadata.entry_points(group="vllm.general_plugins")
                if ep.value.startswith("vllm_ascend_graphs")]
    assert entry.load() is plugin.register


def test_register_is_idempotent_and_reversible():
    platform = adapter.platform_class()
    plugin.register()  # vLLM may already have loaded it; registering again must change nothing
    patched = platform.check_and_update_config.__func__
    plugin.register()
    assert platform.check_and_update_config.__func__ is patched
    assert patching.is_patched(platform, "check_and_update_config")
    plugin.unregister()
    assert not patching.is_patched(platform, "check_and_update_config")
    assert platform.check_and_update_config.__func__ is not patched
    assert platform.check_and_update_config.__func__.__module__.startswith("vllm.")
    assert adapter.engine_args_class().create_engine_config.__module__.startswith("vllm.")
    plugin.register()
    assert patching.is_patched(platform, "check_and_update_config")


MULTIPROCESS_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from vllm import LLM
    from vllm_ascend_graphs.integrations.vllm import decision_of

    def graph_settings(worker):
        config = worker.vllm_config
        record = config.additional_config["_vllm_ascend_graphs"]
        return {"pid": os.getpid(), "mode": config.compilation_config.cudagraph_mode.name,
                "sizes": list(config.compilation_config.cudagraph_capture_sizes or []),
                "backend": record["backend"], "recorded_mode": record["cudagraph_mode"]}

    if __name__ == "__main__":
        llm = LLM(model=sys.argv[1], dtype="float32", max_model_len=128, kv_cache_memory_bytes=32 << 20,
                  enforce_eager=True, tensor_parallel_size=2, additional_config={"graph_backend": "auto"})
        front = llm.llm_engine.vllm_config.compilation_config
        seen = {"front": {"pid": os.getpid(), "mode": front.cudagraph_mode.name,
                          "backend": decision_of(llm)["backend"]},
                "workers": llm.collective_rpc(graph_settings),
                "text": llm.generate("Hello", use_tqdm=False)[0].outputs[0].text != ""}
        with open(sys.argv[2], "w") as fh:  # not stdout, which the engine's processes share
            json.dump(seen, fh)
""")


def test_multiprocess_engine_loads_the_plugin_in_every_process(tiny_model, tmp_path):
    """Every process registers the plugin, only the front end decides, and every process ends with
    the same settings; each of the two tensor-parallel workers (spawned by the engine core's
    multiprocessing executor) checks at its start that it can carry the plan, and says so at DEBUG.
    Read from the file the script writes and from message texts, never from vLLM's log prefixes, which
    differ between vLLM versions."""
    import socket

    script = tmp_path / "mp.py"
    script.write_text(MULTIPROCESS_SCRIPT)
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1", "VLLM_LOGGING_LEVEL": "DEBUG",
           "VLLM_CPU_OMP_THREADS_BIND": "0|1",  # one core per tensor-parallel worker
           "VLLM_ALLOW_INSECURE_SERIALIZATION": "1"}  # collective_rpc sends a function to the workers
    seen = tmp_path / "seen.json"
    result = subprocess.run([sys.executable, str(script), tiny_model, str(seen)], capture_output=True, text=True,
                            env=env, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    seen = json.loads(seen.read_text())
    front, workers = seen["front"], seen["workers"]
    assert front == {"pid": front["pid"], "mode": "NONE", "backend": "eager"} and seen["text"] is True
    assert len(workers) == 2 and all(w["pid"] != front["pid"] for w in workers)  # other processes ...
    assert all((w["mode"], w["sizes"], w["backend"], w["recorded_mode"]) == ("NONE", [], "eager", "NONE")
               for w in workers)  # ... that hold the front end's settings and record
    assert log.count("vllm-ascend-graphs plugin registered") >= 2  # engine core and worker (the front end decides)
    summary = "graph backend: eager, cudagraph_mode NONE"
    applied = f"applied the recorded decision ({summary}"
    assert log.count(summary) - log.count(applied) == 1  # only the front end decides ...
    assert log.count(applied) >= 1  # ... the engine core applies the record
    host = socket.gethostname()
    for rank in (0, 1):
        assert log.count(f"graph backend: worker rank {rank} (data-parallel rank 0) on host {host} holds the plan "
                         f"made on host {host} (eager, cudagraph_mode NONE; assumed of the environment: nothing)") == 1


@pytest.fixture
def unregistered():
    """The plugin undone for the test and registered again after it, as vLLM left it."""
    registered = patching.is_patched(adapter.platform_class(), "check_and_update_config")
    plugin.unregister()
    yield
    plugin.unregister()
    if registered:
        plugin.register()


@pytest.mark.parametrize("value", ["0", "off", "False", " no "])
def test_our_switch_turns_the_plugin_off_with_one_line(unregistered, monkeypatch, caplog, tiny_model, value):
    from vllm.engine.arg_utils import EngineArgs

    monkeypatch.setenv(plugin.SWITCH_VAR, value)
    with caplog.at_level(logging.DEBUG, logger=adapter.LOGGER_NAME):
        plugin.register()
    assert [r.getMessage() for r in caplog.records if r.name == adapter.LOGGER_NAME] == [
        f"vllm-ascend-graphs plugin off (ASCEND_GRAPHS_VLLM_PLUGIN={value}): graph settings are vLLM's own"]
    assert not patching.is_patched(adapter.platform_class(), "check_and_update_config")
    config = EngineArgs(model=tiny_model, max_model_len=256, additional_config={"graph_backend": "aclgraph"}
                        ).create_engine_config()
    assert RECORD_KEY not in config.additional_config  # vLLM's own settings: nothing decided, nothing recorded


@pytest.mark.parametrize("value", ["", "1", "on", "TRUE", "yes"])
def test_our_switch_on_or_unset_registers(unregistered, monkeypatch, value):
    monkeypatch.setenv(plugin.SWITCH_VAR, value)
    plugin.register()
    assert patching.is_patched(adapter.platform_class(), "check_and_update_config")


def test_a_bad_switch_value_is_our_one_line_error(unregistered, monkeypatch, caplog):
    monkeypatch.setenv(plugin.SWITCH_VAR, "of")
    with caplog.at_level(logging.ERROR, logger=adapter.LOGGER_NAME), pytest.raises(GraphConfigError) as info:
        plugin.register()
    assert str(info.value) == "ASCEND_GRAPHS_VLLM_PLUGIN: got 'of'; allowed: 1, on, true or yes; 0, off, false or no"
    assert [r.getMessage() for r in caplog.records if r.name == adapter.LOGGER_NAME] == [str(info.value)]
    assert not patching.is_patched(adapter.platform_class(), "check_and_update_config")
