"""The two enumerations every layer shares: vLLM's graph modes and attention support levels.

They sit below `config`, `models` and `modes`, which all need them, so that none of those three
has to import another to name a mode.
"""

from __future__ import annotations

import enum

from .errors import invalid


class CUDAGraphMode(enum.Enum):
    """vLLM's graph modes. A two-part mode is (decode-batch mode, mixed-batch mode)."""

    NONE = "NONE"
    PIECEWISE = "PIECEWISE"
    FULL = "FULL"
    FULL_DECODE_ONLY = "FULL_DECODE_ONLY"
    FULL_AND_PIECEWISE = "FULL_AND_PIECEWISE"

    @classmethod
    def parse(cls, value: object, key: str) -> CUDAGraphMode:
        """Accept a mode name in any case, or any enum whose `.name` is a mode (vLLM's own)."""
        name = getattr(value, "name", value)
        if isinstance(name, str) and name.strip().upper() in cls.__members__:
            return cls[name.strip().upper()]
        raise invalid(key, value, ", ".join(cls.__members__), choices=cls.__members__)

    @property
    def decode_mode(self) -> CUDAGraphMode:
        """The mode used for uniform decode batches."""
        return _DECODE_PART.get(self, self)

    @property
    def mixed_mode(self) -> CUDAGraphMode:
        """The mode used for mixed prefill/decode batches."""
        return _MIXED_PART.get(self, self)

    @property
    def separate_decode_routine(self) -> bool:
        """Whether uniform decode batches have graphs of their own (a two-part mode)."""
        return self in _DECODE_PART

    @property
    def needs_piecewise_compilation(self) -> bool:
        return CUDAGraphMode.PIECEWISE in (self.decode_mode, self.mixed_mode)


_DECODE_PART = {
    CUDAGraphMode.FULL_DECODE_ONLY: CUDAGraphMode.FULL,
    CUDAGraphMode.FULL_AND_PIECEWISE: CUDAGraphMode.FULL,
}
_MIXED_PART = {
    CUDAGraphMode.FULL_DECODE_ONLY: CUDAGraphMode.NONE,
    CUDAGraphMode.FULL_AND_PIECEWISE: CUDAGraphMode.PIECEWISE,
}

class AttentionSupport(enum.IntEnum):
    """How far an attention backend supports full graphs (upstream `AttentionCGSupport`)."""

    NEVER = 0
    UNIFORM_SINGLE_TOKEN_DECODE = 1
    UNIFORM_BATCH = 2
    ALWAYS = 3

    @classmethod
    def parse(cls, value: object, key: str) -> AttentionSupport:
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        raise invalid(key, value, ", ".join(cls.__members__), choices=cls.__members__)
