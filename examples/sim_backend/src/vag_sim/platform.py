"""vLLM's CPU platform with static graphs, so that vLLM compiles piecewise and wraps each piece.

vLLM's CPU platform captures no graphs: `support_static_graph_mode` is false, so vLLM sets
`cudagraph_mode` to NONE, and its `check_and_update_config` drops the capture sizes and compiles
`VLLM_COMPILE` once with inductor (`DYNAMO_TRACE_ONCE`). This platform says it supports static
graphs and keeps vLLM's piecewise compilation, so the model runner dispatches batches to graphs
and vLLM wraps every piece between attention layers in the platform's static-graph wrapper, which
the vllm-ascend-graphs plugin answers for a backend on another device. Its own wrapper captures
nothing: this platform has no device graphs of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vllm.platforms.cpu import CpuPlatform


class SimGraphPlatform(CpuPlatform):
    @classmethod
    def support_static_graph_mode(cls) -> bool:
        return True

    @classmethod
    def get_compile_backend(cls) -> str:
        # A class, not "inductor": vLLM then asks the platform for its compiler when it builds the
        # model (where the plugin answers), and no inductor compile runs (minutes on a small host).
        return "vllm.compilation.compiler_interface.EagerAdaptor"

    @classmethod
    def get_static_graph_wrapper_cls(cls) -> str:
        return f"{__name__}.NoGraphs"

    @classmethod
    def check_and_update_config(cls, vllm_config: Any) -> None:
        from vllm.config import CompilationMode  # not at import: vLLM loads platform plugins inside vllm.config

        compilation = vllm_config.compilation_config
        mode, backend, sizes = compilation.mode, compilation.backend, list(compilation.cudagraph_capture_sizes or [])
        super().check_and_update_config(vllm_config)
        compilation.cudagraph_capture_sizes = sizes
        if mode == CompilationMode.VLLM_COMPILE:
            compilation.mode, compilation.backend = mode, backend
        # vLLM's pass manager imports the quantisation fusion passes on CUDA and XPU only.
        compilation.pass_config.fuse_norm_quant = compilation.pass_config.fuse_act_quant = False


class NoGraphs:
    """The platform's own wrapper: a piece that no backend captures runs as compiled."""

    def __init__(self, runnable: Callable[..., Any], vllm_config: Any, runtime_mode: Any, **options: Any):
        self.runnable = runnable

    def __getattr__(self, key: str) -> Any:
        return getattr(self.runnable, key)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.runnable(*args, **kwargs)
