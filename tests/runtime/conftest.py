"""Fixtures for the runtime tests: the reference decoder, a fresh simulated device, and what the
fakes are derived from (torch_npu's Npugraph_ex config classes)."""

from __future__ import annotations

import pytest
import real_packages

from vllm_ascend_graphs.runtime.devices import DeviceGraphs
from vllm_ascend_graphs.runtime.devices.sim import SimDevice, sim_graphs
from vllm_ascend_graphs.runtime.reference_decoder import ReferenceDecoder

from .fakes import npugraph_ex as fake_npugraph_ex


@pytest.fixture(scope="session")
def decoder() -> ReferenceDecoder:
    return ReferenceDecoder()


@pytest.fixture
def sim() -> SimDevice:
    return SimDevice()


@pytest.fixture
def graphs(sim: SimDevice) -> DeviceGraphs:
    return sim_graphs(sim)


@pytest.fixture(scope="session")
def compiler_configs() -> fake_npugraph_ex.CompilerConfigs:
    """The real Npugraph_ex / torchair `CompilerConfig` classes of the torch_npu vllm-ascend 0.23.0 pairs with."""
    return fake_npugraph_ex.real_compiler_configs(real_packages.torch_npu_source(real_packages.PAIRED_TORCH_NPU))
