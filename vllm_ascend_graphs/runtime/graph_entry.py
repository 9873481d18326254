"""One captured graph as the runtime keeps it (vLLM's model runner keeps a `CUDAGraphEntry` alike): the
recording, the runtime mode it replays in, and where its inputs were when it was captured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..enums import CUDAGraphMode
from .devices import Recording


class GraphEntry(NamedTuple):
    recording: Recording
    mode: CUDAGraphMode
    input_addresses: tuple[int | None, ...]  # the data pointer of each input at capture; None for a non-tensor

    @classmethod
    def captured(cls, recording: Recording, mode: CUDAGraphMode, inputs: Sequence[Any]) -> GraphEntry:
        return cls(recording, mode, addresses_of(inputs))

    def check_inputs(self, inputs: Sequence[Any], where: str) -> None:
        """Debug: raise when an input is not where the graph reads it, since a replay would then compute on
        stale inputs without any error."""
        for index, (now, captured) in enumerate(zip(addresses_of(inputs), self.input_addresses, strict=True)):
            if now != captured:
                raise RuntimeError(f"{where} (debug): input {index} is at {_address(now)}, but the graph reads it "
                                   f"from {_address(captured)}; replays would compute on stale inputs")


def addresses_of(inputs: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(value.data_ptr() if hasattr(value, "data_ptr") else None for value in inputs)


def _address(value: int | None) -> str:
    return "no address (not a tensor)" if value is None else f"{value:#x}"
