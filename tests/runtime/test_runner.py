"""GraphRunner on the simulated device: parity, padding, keys, the output contract, debug checks."""

from __future__ import annotations

import sys
import threading

import pytest
import torch

from vllm_ascend_graphs.errors import GraphConfigError
from vllm_ascend_graphs.rules.modes import CUDAGraphMode
from vllm_ascend_graphs.runtime.devices.sim import sim_graphs
from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions

from .parity import assert_parity

SIZES = (1, 2, 4, 8)


@pytest.fixture
def runner(decoder, graphs):
    return GraphRunner(decoder, SIZES, RunnerOptions(device=graphs)).capture(decoder.inputs(2, seed=0))


def replays(sim) -> int:
    return sim.events.count("replay")


def test_every_size_and_every_padded_size_matches_eager(runner, decoder, sim):
    counts = [1, 2, 3, 4, 5, 6, 7, 8, 8, 3, 1]
    assert_parity(runner, decoder, counts)
    assert replays(sim) == len(counts)
    assert [runner.padded_size(n) for n in range(1, 9)] == [1, 2, 4, 4, 8, 8, 8, 8]


def test_a_batch_above_the_largest_size_runs_eagerly(runner, decoder, sim):
    assert_parity(runner, decoder, [9, 17])
    assert replays(sim) == 0
    assert runner.padded_size(9) is None


class ForgetsPositions(GraphRunner):
    """A broken runner: copies the token ids into their static buffer but not the positions."""

    def _load(self, step, inputs):
        step.inputs[0].copy_(inputs[0])


def test_a_runner_that_forgot_to_copy_an_input_fails_parity(decoder, graphs):
    broken = ForgetsPositions(decoder, SIZES, RunnerOptions(device=graphs)).capture(decoder.inputs(2, seed=0))
    with pytest.raises(AssertionError, match="tokens"):
        assert_parity(broken, decoder, [4, 4, 4])


def test_captures_run_largest_first_into_one_shared_pool(runner):
    assert list(runner.captured) == [(8, True), (4, True), (2, True), (1, True)]
    pools = {entry.recording.graph.pool() for entry in runner.captured.values()}
    assert len(pools) == 1 and None not in pools


@pytest.mark.parametrize(("mode", "uniform", "mixed"), [
    (CUDAGraphMode.FULL_DECODE_ONLY, True, False),
    (CUDAGraphMode.FULL, True, True),
    (CUDAGraphMode.PIECEWISE, True, True),
    (CUDAGraphMode.FULL_AND_PIECEWISE, True, True),
    (CUDAGraphMode.NONE, False, False),
])
def test_the_mode_decides_which_batch_keys_are_captured(decoder, graphs, sim, mode, uniform, mixed):
    runner = GraphRunner(decoder, (2, 4), RunnerOptions(device=graphs, mode=mode)).capture(decoder.inputs(2, seed=0))
    wanted_kinds = {kind for kind, wanted in ((True, uniform), (False, mixed)) if wanted}
    assert {kind for _, kind in runner.captured} == wanted_kinds
    for kind, wanted in ((True, uniform), (False, mixed)):
        before = replays(sim)
        assert_parity(runner, decoder, [3], uniform_decode=kind)
        assert replays(sim) - before == int(wanted), "an uncaptured key runs eagerly"


@pytest.mark.parametrize("warmup", [0, 2])
def test_each_key_is_warmed_up_eagerly_before_its_capture(graphs, warmup):
    calls = []

    def fn(x):
        calls.append(x.shape[0])
        return x * 2

    GraphRunner(fn, (1, 4), RunnerOptions(device=graphs, warmup=warmup)).capture([torch.ones(1)])
    assert calls == [4] * (warmup + 1) + [1] * (warmup + 1)  # the last call of each size is the capture


def test_default_outputs_are_copies_a_later_call_never_overwrites(runner, decoder):
    first_inputs, second_inputs = decoder.inputs(3, seed=1), decoder.inputs(3, seed=2)
    with torch.no_grad():
        first = runner(*first_inputs)
        runner(*second_inputs)
        torch.testing.assert_close(first, decoder(*first_inputs))


def test_zero_copy_outputs_are_views_of_the_static_outputs_valid_until_the_next_call(decoder, graphs):
    options = RunnerOptions(device=graphs, zero_copy_outputs=True)
    runner = GraphRunner(decoder, SIZES, options).capture(decoder.inputs(2, seed=0))
    first_inputs, second_inputs = decoder.inputs(3, seed=1), decoder.inputs(3, seed=2)
    with torch.no_grad():
        first = runner(*first_inputs)
        torch.testing.assert_close(first, decoder(*first_inputs))
        static_output = runner.captured[(4, True)].recording.outputs
        assert first.data_ptr() == static_output.data_ptr() and first.shape[0] == 3
        second = runner(*second_inputs)
        torch.testing.assert_close(first, second)  # the first result now shows the second call's values
        torch.testing.assert_close(second, decoder(*second_inputs))


def test_tuple_outputs_keep_their_structure_and_unbatched_outputs_are_not_cut(graphs):
    bias = torch.randn(3)

    def fn(x):
        return x + bias, bias * 2

    runner = GraphRunner(fn, (4,), RunnerOptions(device=graphs)).capture([torch.zeros(4, 3)])
    x = torch.randn(3, 3)
    shifted, doubled = runner(x)
    torch.testing.assert_close(shifted, x + bias)
    torch.testing.assert_close(doubled, bias * 2)


def misdirect_inputs(runner, num_tokens):
    """Break the runner as a reallocated input buffer would: copies of this size land elsewhere."""
    step = runner._uniform_steps[num_tokens]
    step.inputs = tuple(view.clone() for view in step.inputs)


def test_debug_mode_catches_inputs_copied_away_from_the_captured_buffers(decoder, graphs):
    runner = GraphRunner(decoder, SIZES, RunnerOptions(device=graphs, debug=True)).capture(decoder.inputs(2, seed=0))
    assert_parity(runner, decoder, [3])
    misdirect_inputs(runner, 3)
    with pytest.raises(RuntimeError,
                       match=r"GraphRunner \(debug\): input 0 is at 0x[0-9a-f]+, but the graph reads it from"):
        runner(*decoder.inputs(3, seed=5))


def test_without_debug_misdirected_inputs_silently_serve_stale_results(runner, decoder):
    misdirect_inputs(runner, 3)
    with pytest.raises(AssertionError):
        assert_parity(runner, decoder, [3, 3, 3])


@pytest.mark.parametrize(("inputs", "message"), [
    (lambda d: (d.inputs(3, seed=1)[0],), "got 1 inputs; allowed: 2 tensors"),
    (lambda d: (d.inputs(3, seed=1)[0], torch.zeros(3, dtype=torch.int32)),
     r"input 1 is torch.int32 \[3\]; allowed: torch.int64 \[3\]"),
    (lambda d: (d.inputs(3, seed=1)[0], torch.zeros(3, 1, dtype=torch.int64)), r"input 1 is torch.int64 \[3, 1\]"),
    (lambda d: (d.inputs(3, seed=1)[0], [0, 1, 2]), "input 1 is list"),
])
def test_inputs_unlike_the_captured_ones_are_a_clear_error(runner, decoder, inputs, message):
    with pytest.raises(TypeError, match=message):
        runner(*inputs(decoder))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sizes": (0, 2)}, r"capture sizes: got \[0, 2\] \(list\); allowed: positive integers"),
    ({"policy": "retry"}, r"graph_capture_policy: got 'retry'; allowed: 'raise', 'shrink', 'eager'"),
    ({"mode": "FULLEST"}, r"GraphRunner mode: got 'FULLEST';.* allowed: NONE, PIECEWISE"),
    ({"warmup": -1}, r"warmup: got -1 \(int\); allowed: a non-negative integer"),
    ({"device": "tpu"}, r"graph device: got 'tpu'; allowed: sim, cuda, npu"),
    ({"device": None}, r"device: got None without a backend"),
])
def test_bad_runner_settings_are_config_errors(kwargs, message):
    settings = {"sizes": (1, 2), "device": "sim", **kwargs}
    with pytest.raises(GraphConfigError, match=message):
        GraphRunner(lambda x: x, settings.pop("sizes"), RunnerOptions(**settings))


def test_example_inputs_must_be_batched_tensors(graphs):
    runner = GraphRunner(lambda x, y: x, (2,), RunnerOptions(device=graphs))
    with pytest.raises(GraphConfigError, match="batch sizes"):
        runner.capture([torch.zeros(2), torch.zeros(3)])
    with pytest.raises(GraphConfigError, match="tensors that share their batch size"):
        runner.capture([torch.tensor(1.0)])


# -- threads ------------------------------------------------------------------------------------


@pytest.fixture
def frequent_thread_switches():
    """Switch threads every microsecond instead of every 5 ms, so that races show in a few calls."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def in_threads(count: int, work) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_one_runner_called_from_several_threads_serves_every_call_right(runner, decoder, frequent_thread_switches):
    wrong: list[tuple[int, int]] = []

    def calls(thread: int) -> None:
        with torch.no_grad():
            for call in range(50):
                inputs = decoder.inputs(1 + (call + thread) % 8, seed=1000 * thread + call)
                if not torch.allclose(runner(*inputs), decoder(*inputs), atol=1e-5):
                    wrong.append((thread, call))

    assert in_threads(4, calls) == []
    assert wrong == [], f"{len(wrong)} of 200 calls got another call's outputs"


def test_runners_sharing_one_device_capture_from_several_threads(decoder, sim, frequent_thread_switches):
    runners: list[GraphRunner] = []

    def capture(thread: int) -> None:
        runner = GraphRunner(decoder, SIZES, RunnerOptions(device=sim_graphs(sim)))
        runners.append(runner.capture(decoder.inputs(2, seed=thread)))

    for _ in range(5):
        assert in_threads(2, capture) == []
    assert len(runners) == 10 and all(len(r.captured) == len(SIZES) for r in runners)
    for runner in runners:
        assert_parity(runner, decoder, [1, 3, 8])


def test_a_zero_copy_runner_refuses_a_second_thread(decoder, graphs):
    options = RunnerOptions(device=graphs, zero_copy_outputs=True)
    runner = GraphRunner(decoder, SIZES, options).capture(decoder.inputs(2, seed=0))
    with torch.no_grad():
        first_inputs = decoder.inputs(3, seed=1)
        first = runner(*first_inputs)
        errors = in_threads(1, lambda _: runner(*decoder.inputs(3, seed=2)))
        assert len(errors) == 1 and "serves the one thread that called it first" in str(errors[0])
        torch.testing.assert_close(first, decoder(*first_inputs), msg="the refused call overwrote nothing")
        eager_inputs = decoder.inputs(9, seed=3)  # above the largest size: eager, no shared buffers
        assert in_threads(1, lambda _: torch.testing.assert_close(runner(*eager_inputs), decoder(*eager_inputs))) == []
