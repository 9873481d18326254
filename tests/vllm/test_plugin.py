"""The general plugin: declared as an entry point, idempotent, reversible, alive in every process."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

from vllm_ascend_graphs.integrations import vllm as plugin
from vllm_ascend_graphs.integrations.vllm import adapter


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
    assert adapter.is_patched(platform, "check_and_update_config")
    plugin.unregister()
    assert not adapter.is_patched(platform, "check_and_update_config")
    assert platform.check_and_update_config.__func__ is not patched
    assert platform.check_and_update_config.__func__.__module__.startswith("vllm.")
    assert adapter.engine_args_class().create_engine_config.__module__.startswith("vllm.")
    plugin.register()
    assert adapter.is_patched(platform, "check_and_update_config")


MULTIPROCESS_SCRIPT = textwrap.dedent("""
    import sys
    from vllm import LLM
    from vllm_ascend_graphs.integrations.vllm import decision_of

    if __name__ == "__main__":
        llm = LLM(model=sys.argv[1], dtype="float32", max_model_len=128, kv_cache_memory_bytes=32 << 20,
                  enforce_eager=True, additional_config={"graph_backend": "auto"})
        print("DECISION", decision_of(llm)["backend"])
        print("TEXT", llm.generate("Hello", use_tqdm=False)[0].outputs[0].text != "")
""")


def test_multiprocess_engine_loads_the_plugin_in_every_process(tiny_model, tmp_path):
    script = tmp_path / "mp.py"
    script.write_text(MULTIPROCESS_SCRIPT)
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1", "VLLM_LOGGING_LEVEL": "DEBUG"}
    result = subprocess.run([sys.executable, str(script), tiny_model], capture_output=True, text=True, env=env,
                            timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "DECISION eager" in log and "TEXT True" in log
    lines = log.splitlines()
    registered = {line.split(" pid=")[0].split("(")[-1] for line in lines if "vllm-ascend-graphs plugin registered" in line}
    assert "EngineCore" in registered and any(p.startswith("VllmWorker") for p in registered), registered
    decided = [line for line in lines if "INFO" in line and "graph backend: eager, cudagraph_mode NONE" in line]
    assert len(decided) == 1 and decided[0].startswith("(MainProcess"), decided  # the front end decides ...
    reapplied = [line for line in lines if "re-applying the recorded decision" in line]
    assert reapplied and all(line.startswith("(EngineCore") for line in reapplied)  # ... the core follows the record
