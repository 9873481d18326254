"""The vllm-ascend versions the contract tier runs, each on the vLLM it pairs with.

`make test` sets up one environment per vLLM (`scripts/setup-venv-ascend.sh`) and runs the tier in
each; the vLLM installed in a run says which vllm-ascend that run is about. Where vllm-ascend's
behaviour differs between these versions, the case says so by name (`cases.py`, `Case.differs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from real_packages import ARCHIVE_0_26, ARCHIVE_MAIN


@dataclass(frozen=True)
class VllmAscend:
    name: str  # as tests, docs and messages say it
    vllm: str  # the vLLM it pairs with: its Dockerfile's VLLM_TAG
    sdist: str | None = None  # its version on the package index, where it is a release there
    archive: str | None = None  # else its source archive (a ref of its repository), in the vendor folder

    def source(self) -> Path:
        """Its unpacked source, with the egg-info through whose entry points vLLM loads it."""
        from real_packages import vllm_ascend_archive, vllm_ascend_source

        return vllm_ascend_source(self.sdist) if self.sdist else vllm_ascend_archive(str(self.archive))

    def platform_tests(self) -> Path:
        """The folder holding its own `tests/ut/test_platform.py`: the sdist carries its tests, an archive's
        lie in a second archive beside it."""
        from real_packages import vllm_ascend_platform_tests

        return self.source() if self.sdist else vllm_ascend_platform_tests(str(self.archive))

    @property
    def source_folder(self) -> str:
        """The name of the folder `source()` returns."""
        return f"vllm_ascend-{self.sdist}" if self.sdist else str(self.archive)


V0_23 = VllmAscend("0.23.0.post1", vllm="0.23.0", sdist="0.23.0.post1")
V0_26 = VllmAscend("0.26.0rc", vllm="0.26.0", archive=ARCHIVE_0_26)
MAIN = VllmAscend("main@182b75ea", vllm="0.27.1", archive=ARCHIVE_MAIN)
VERSIONS = (V0_23, V0_26, MAIN)
BY_VLLM = {version.vllm: version for version in VERSIONS}


def for_vllm(vllm_version: str) -> VllmAscend | None:
    """The vllm-ascend that pairs with vLLM `vllm_version` (a local label such as "+cpu" ignored)."""
    return BY_VLLM.get(vllm_version.split("+")[0])


def installed() -> VllmAscend | None:
    """The vllm-ascend that pairs with the vLLM installed here, or None (not a contract environment)."""
    import vllm

    return for_vllm(str(vllm.__version__))


def pinned(source: Path, requirements: str, project: str) -> str:
    """The version `source/requirements` pins `project` to (`name==version`): what vllm-ascend pairs with."""
    name = "[-_]".join(re.escape(part) for part in re.split(r"[-_]", project))
    pattern = re.compile(rf"^{name}==(\S+)", re.IGNORECASE | re.MULTILINE)
    found = pattern.findall((source / requirements).read_text(encoding="utf-8"))
    if len(found) != 1:
        raise LookupError(f"{source.name}/{requirements} pins {project} {len(found)} times, not once")
    return found[0]
