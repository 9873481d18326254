"""The CPU simulation behaves like a device graph where it matters to the runtime."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from vllm_ascend_graphs.errors import GraphConfigError
from vllm_ascend_graphs.runtime.devices import get_device


def test_replay_reads_the_static_inputs_and_rewrites_the_captured_outputs(graphs):
    weight = torch.randn(4, 4)
    static = torch.randn(3, 4)
    recording = graphs.capture(lambda x: torch.relu(x @ weight) + x, [static], pool=graphs.graph_pool())
    output = recording.outputs
    assert torch.isnan(output).all(), "like device memory, outputs are undefined until the first replay"

    for _ in range(2):
        static.copy_(torch.randn(3, 4))
        recording.graph.replay()
        assert recording.outputs is output
        torch.testing.assert_close(output, torch.relu(static @ weight) + static)


def test_python_decisions_are_frozen_at_capture(graphs):
    settings = {"double": True}

    def fn(x):
        return x * 2 if settings["double"] else x * 3

    static = torch.ones(2)
    recording = graphs.capture(fn, [static], pool=graphs.graph_pool())
    settings["double"] = False
    recording.graph.replay()
    torch.testing.assert_close(recording.outputs, torch.full((2,), 2.0))


def test_in_place_updates_of_existing_buffers_are_replayed(graphs):
    cache = torch.zeros(4)
    position = torch.tensor([1])
    recording = graphs.capture(lambda p: cache.index_fill_(0, p, 5.0).sum(), [position], pool=graphs.graph_pool())
    cache.zero_()
    position.fill_(3)
    recording.graph.replay()
    assert cache.tolist() == [0.0, 0.0, 0.0, 5.0]
    assert recording.outputs.item() == 5.0


@pytest.mark.parametrize("host_read", [lambda x: x * x.sum().item(), lambda x: x[x > 0], lambda x: x.nonzero()])
def test_host_synchronisation_during_capture_fails_as_on_a_device(graphs, host_read):
    with pytest.raises(RuntimeError, match="cannot record"):
        graphs.capture(host_read, [torch.randn(3)], pool=graphs.graph_pool())
    # The failed capture left the device usable.
    recording = graphs.capture(lambda x: x + 1, [torch.zeros(1)], pool=graphs.graph_pool())
    recording.graph.replay()
    assert recording.outputs.item() == 1.0


def test_the_capture_api_refuses_positional_pools_and_the_default_stream(sim):
    graph = sim.new_graph()
    with pytest.raises(TypeError):
        with sim.graph(graph, sim.graph_pool_handle()):
            pass
    with pytest.raises(RuntimeError, match="default stream"):
        with sim.graph(graph, pool=None, stream=sim.default_stream):
            pass


def test_a_graph_holds_one_capture_until_reset(sim):
    graph = sim.new_graph()
    x = torch.zeros(1)
    with sim.graph(graph, pool=None):
        x + 1
    with pytest.raises(RuntimeError, match="reset"):
        with sim.graph(graph, pool=None):
            x + 2
    graph.reset()
    with pytest.raises(RuntimeError, match="before a capture"):
        graph.replay()


def test_injected_capture_failures_hit_the_chosen_attempts(graphs, sim):
    sim.inject_capture_failure("boom", captures={1})
    graphs.capture(lambda x: x + 1, [torch.zeros(1)], pool=None)
    with pytest.raises(RuntimeError, match="^boom$"):
        graphs.capture(lambda x: x + 1, [torch.zeros(1)], pool=None)
    graphs.capture(lambda x: x + 1, [torch.zeros(1)], pool=None)
    assert sim.captures == 3
    assert sim.events.count("capture") == 2


def test_unknown_device_names_are_an_error_that_lists_the_allowed_ones():
    with pytest.raises(GraphConfigError, match=r"graph device: got 'tpu'; allowed: sim, cuda, npu"):
        get_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(GraphConfigError, match="no CUDA device"):
        get_device("cuda")


def test_a_second_thread_capturing_at_once_gets_a_clear_error(sim):
    first = sim.new_graph()
    capturing, release = threading.Event(), threading.Event()

    def capture_slowly() -> None:
        with sim.graph(first, pool=None):
            capturing.set()
            release.wait(10)
            torch.zeros(1) + 1

    thread = threading.Thread(target=capture_slowly, name="capturer")
    thread.start()
    capturing.wait(10)
    try:
        assert sim.current_stream() is sim.default_stream, "the capturing thread's stream is its own"
        with pytest.raises(RuntimeError, match=r"a capture is already in progress on this device \(in thread "
                                               r"'capturer'\); capture one graph at a time per device"):
            with sim.graph(sim.new_graph(), pool=None):
                pass
    finally:
        release.set()
        thread.join()
    first.replay()  # the first capture was not disturbed
    assert sim.events.count("capture") == 1 and sim.captures == 2


def slow_sine(factor: int):
    def fn(x):
        time.sleep(0.01)  # hold the capture open long enough for the other threads to try theirs
        return (x * factor).sin()

    return fn


def test_device_graphs_over_one_device_take_turns_to_capture(sim):
    from vllm_ascend_graphs.runtime.devices.sim import sim_graphs

    recordings, errors = [], []

    def capture(index: int) -> None:
        try:
            graphs = sim_graphs(sim)  # each thread its own DeviceGraphs: the device's lock is shared
            recordings.append(graphs.capture(slow_sine(index), [torch.ones(64)], pool=None))
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=capture, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(recordings) == 8
