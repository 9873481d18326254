"""Offline inference with vLLM, the graph backend chosen by `additional_config`.

    python examples/offline_inference.py [--model DIR] [--backend NAME] [--additional-config JSON]

Without --model it builds a tiny random-weight Llama locally (no download): its text is noise,
the point is the decision the vllm_ascend_graphs plugin made, printed first. The engine runs
in-process with a small KV cache. `enforce_eager` is set only on vLLM's CPU platform, which captures
no graphs anyway (it saves torch.compile's warm-up there); anywhere else it would turn every graph
backend off, so on an NPU `--backend aclgraph` selects ACLGraph.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # keep the engine in this process

PROMPTS = ["Hello, how are you?", "Graph mode captures"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a local model directory (default: build a tiny Llama in demo-model/)")
    parser.add_argument("--backend", default="auto", help="graph_backend: auto (default), aclgraph, xlite, eager, ...")
    parser.add_argument("--additional-config", default="{}", metavar="JSON", help="more additional_config keys")
    parser.add_argument("--max-tokens", type=int, default=24)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        additional_config = {"graph_backend": args.backend, **json.loads(args.additional_config)}
    except json.JSONDecodeError as exc:
        print(f"--additional-config: not valid JSON ({exc.msg}); allowed: a JSON object", file=sys.stderr)
        return 2
    if args.model is None:
        from tiny_model import build_tiny_model

        args.model = str(build_tiny_model("demo-model"))
        print(f"{args.model}: a tiny Llama with random weights, built here: the text it generates is noise by "
              "design; the point is the graph-backend decision printed below.")

    from vllm import LLM, SamplingParams
    from vllm.platforms import current_platform

    from vllm_ascend_graphs import GraphConfigError
    from vllm_ascend_graphs.integrations.vllm import decision_of

    enforce_eager = current_platform.is_cpu()
    if enforce_eager:
        print("enforce_eager=True: vLLM's CPU platform captures no graphs, and eager mode skips torch.compile's "
              "warm-up; on any other platform this example leaves graphs to the plugin.")
    try:
        llm = LLM(
            model=args.model, additional_config=additional_config, dtype="float32", max_model_len=256,
            kv_cache_memory_bytes=64 << 20, enforce_eager=enforce_eager,
        )
    except GraphConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    decision = decision_of(llm)
    print(f"\n{decision['summary']}")
    for note in decision["notes"]:
        print(f"  note: {note}")
    outputs = llm.generate(PROMPTS, SamplingParams(temperature=0, max_tokens=args.max_tokens))
    for output in outputs:
        print(f"\nprompt:    {output.prompt!r}\ngenerated: {output.outputs[0].text!r}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    raise SystemExit(main())
