"""The parity check the runtime tests share: graph-served outputs equal eager ones, call by call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def assert_parity(runner: Any, decoder: Any, token_counts: Iterable[int], *, uniform_decode: bool = True,
                  seed: int = 0, atol: float = 1e-5) -> list[torch.Tensor]:
    """Call `runner` once per count with fresh inputs; every output must match eager. Returns the outputs."""
    outputs = []
    with torch.no_grad():
        for call, n in enumerate(token_counts):
            inputs = decoder.inputs(n, seed=seed + call + 1)
            got = runner(*inputs, uniform_decode=uniform_decode)
            torch.testing.assert_close(got, decoder(*inputs), atol=atol, rtol=1e-5,
                                       msg=lambda message, n=n: f"{n} tokens: {message}")
            outputs.append(got)
    return outputs
