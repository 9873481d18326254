"""The graph runtime: capture a callable per batch size on a device graph API, and replay it.

`runner.GraphRunner` does the work; `devices` is the only door to the device graph APIs
(`npu`, `cuda`, and `sim`, a CPU simulation for tests); `capture_errors` turns a device's capture
failure into advice; `reference_decoder` is the small model `check` and the benchmarks capture.
The runtime only carries out a plan: deciding it is the selector's job (`vllm_ascend_graphs.capture`
joins the two outside vLLM). Importing this package imports no torch.
"""
