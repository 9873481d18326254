"""`explain --model M` tells what `LLM(model=M)` will do, on a platform where the graph settings differ.

vLLM runs on the example sim platform (`on_sim_platform.py`: vLLM's CPU platform with static
graphs, the example sim backend installed with pip), and `explain` is asked the same question with
`--assume static_graphs=true`. The scenarios differ in every compared setting, so a comparison that
ignored the request or the platform would fail. Npugraph_ex and static kernel are off on every
platform but Ascend; the contract tier compares them, with the mode and the sizes, where vLLM
Ascend's own platform runs (`tests/ascend/test_contract.py`).
"""

from __future__ import annotations

import json

import pytest
from on_sim_platform import SCENARIOS

COMPARED = ("backend", "cudagraph_mode", "capture_sizes", "graphs", "trail")


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_explain_gives_what_llm_records(sim_platform, name):
    explained, recorded = sim_platform[name]["explain"], sim_platform[name]["record"]
    assert {k: explained[k] for k in COMPARED} == {k: recorded[k] for k in COMPARED}
    assert recorded["overrides"] == []  # nothing vLLM or the platform did after the plan was applied


@pytest.mark.parametrize("setting", COMPARED)
def test_every_compared_setting_differs_between_the_scenarios(sim_platform, setting):
    """The comparison can fail: an `explain` that answered every request alike could not match."""
    recorded = {name: json.dumps(answer["record"][setting]) for name, answer in sim_platform.items()}
    assert len(set(recorded.values())) > 1, recorded


def test_explain_without_the_platforms_graphs_disagrees_with_the_record(sim_platform):
    """Asked as on vLLM's CPU platform (no static graphs), `explain` says NONE where this platform
    captures: the comparison tells the platforms apart, as the one on the CPU platform could not."""
    for name in ("auto", "two sequences", "native"):
        as_cpu, recorded = sim_platform[name]["explain_as_cpu"], sim_platform[name]["record"]
        assert recorded["cudagraph_mode"] != "NONE" and as_cpu["cudagraph_mode"] == "NONE", name
        assert {k: as_cpu[k] for k in COMPARED} != {k: recorded[k] for k in COMPARED}, name
