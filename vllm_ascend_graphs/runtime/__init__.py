"""The graph runtime: capture a callable per batch size on a device graph API, and replay it.

`runner.GraphRunner` does the work; `devices` is the only door to the device graph APIs
(`npu`, `cuda`, and `sim`, a CPU simulation for tests); `capture_errors` turns a device's capture
failure into advice; `standalone.capture` and `check` use all of it without vLLM. Importing this
package imports no torch.
"""
