"""Fixtures for the runtime tests: the reference decoder and a fresh simulated device."""

from __future__ import annotations

import pytest

from vllm_ascend_graphs.runtime.devices import DeviceGraphs
from vllm_ascend_graphs.runtime.devices.sim import SimDevice, sim_graphs
from vllm_ascend_graphs.runtime.reference_decoder import ReferenceDecoder


@pytest.fixture(scope="session")
def decoder() -> ReferenceDecoder:
    return ReferenceDecoder()


@pytest.fixture
def sim() -> SimDevice:
    return SimDevice()


@pytest.fixture
def graphs(sim: SimDevice) -> DeviceGraphs:
    return sim_graphs(sim)
