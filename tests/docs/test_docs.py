"""Every ```python and ```sh block in docs/ and README.md runs on the CPU, unless marked.

A block preceded by an HTML comment `<!-- not run: REASON -->` (for example "needs an NPU")
is skipped with that reason; every other block must exit 0. Python blocks run as scripts in a
fresh interpreter; shell blocks run with bash in the repository root with .venv/bin on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"(?:<!-- not run: (?P<reason>[^>]*?) -->\s*\n)?```(?P<lang>python|sh|bash)\n(?P<code>.*?)\n```",
                   re.DOTALL)


def blocks():
    for path in sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]):
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start("code"))
            yield pytest.param(match.group("lang"), match.group("code"), match.group("reason"),
                               id=f"{path.relative_to(ROOT)}:{line}")


@pytest.mark.parametrize(("lang", "code", "reason"), list(blocks()))
def test_doc_block(lang, code, reason, tmp_path):
    if reason:
        pytest.skip(reason)
    if "ASCEND_GRAPHS_DOCS_TMP" in os.environ:
        pytest.skip("already inside a docs block: never recurse")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "ASCEND_GRAPHS_DOCS_TMP": str(tmp_path)}
    if lang == "python":
        script = tmp_path / "block.py"
        script.write_text(code)
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
