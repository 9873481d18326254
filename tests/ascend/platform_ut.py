"""Run vllm-ascend's own platform unit tests as its CPU runner does: without, then with this package's
vLLM plugin loaded through its entry point.

    python platform_ut.py SOURCE TESTS_ROOT OUT_JSON

`SOURCE` holds vllm-ascend's `vllm_ascend/` and its egg-info (entry points), `TESTS_ROOT` its
`tests/ut/` (`test_platform.py`, with the conftest and base it imports). The tests stand in for
torch_npu themselves; what is stood in for here is what vllm-ascend's build writes,
`vllm_ascend._build_info` (`standins.build_info`), which its CI has from `pip install`. vLLM's
platform is vllm-ascend's, through its `vllm.platform_plugins` entry point. Both runs share this
process, so torch, vLLM and vllm-ascend are imported once. The first run loads this package's
general plugin with vLLM's `load_general_plugins()`, once the tests' conftest has stood in for
torch_npu, and no other general plugin (`VLLM_PLUGINS`); the second runs after the plugin's own
`unregister()`, as without it. Writes, per run, each test's outcome, how many times the platform's
`check_and_update_config` ran through the plugin, and what the plugin logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
TEST_FILE = Path("tests", "ut", "test_platform.py")
# vllm-ascend's platform plugin, and this package's general plugin (pyproject.toml): no other plugin loads.
ENTRY_POINTS = "ascend,vllm_ascend_graphs"


class Run:
    """A pytest plugin: the outcome of each test, and, with the plugin, its calls and log lines."""

    def __init__(self, with_plugin: bool):
        self.with_plugin = with_plugin
        self.outcomes: dict[str, str] = {}
        self.calls = 0
        self.logged: list[list[str]] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.with_plugin:
            self._load_plugin()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.outcomes.setdefault(report.nodeid, report.outcome)

    def _load_plugin(self) -> None:
        from vllm.platforms import current_platform
        from vllm.plugins import load_general_plugins
        from vllm_ascend.platform import NPUPlatform

        from vllm_ascend_graphs.integrations.vllm import adapter, patching

        load_general_plugins()
        platform = type(current_platform)
        assert platform is NPUPlatform and patching.is_patched(platform, "check_and_update_config"), (
            f"the plugin did not hook vllm-ascend's platform (vLLM's platform: {platform})")
        through_plugin = platform.__dict__["check_and_update_config"].__func__

        def counted(cls: type, vllm_config: Any) -> None:
            self.calls += 1
            through_plugin(cls, vllm_config)

        platform.check_and_update_config = classmethod(counted)  # type: ignore[method-assign]
        handler = logging.Handler(logging.DEBUG)
        handler.emit = lambda record: self.logged.append([record.levelname, record.getMessage()])  # type: ignore
        logging.getLogger(adapter.LOGGER_NAME).addHandler(handler)


def main(source: str, tests_root: str, out: str) -> int:
    os.environ["VLLM_PLUGINS"] = ENTRY_POINTS
    sys.path[:0] = [str(HERE), tests_root, source]
    from standins import build_info

    build = types.ModuleType("vllm_ascend._build_info")
    vars(build).update(build_info(Path(source), "910B"))
    sys.modules[build.__name__] = build
    runs = {}
    for name, with_plugin in (("with", True), ("without", False)):
        run = Run(with_plugin)
        code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", tests_root,
                            str(Path(tests_root, TEST_FILE))], plugins=[run])
        runs[name] = {"exit": int(code), "outcomes": run.outcomes, "calls": run.calls, "logged": run.logged}
        if with_plugin:
            from vllm_ascend_graphs.integrations.vllm import unregister

            unregister()
    Path(out).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
