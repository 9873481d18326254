"""Plain PyTorch through the graph runtime: capture a small block per batch size, compare replay with eager.

    python examples/standalone_capture.py [--device sim|cuda|npu] [--sizes 1 2 4 8]

`sim` (the default) simulates device graphs on the CPU, so this runs anywhere in a few seconds;
`cuda` and `npu` capture real device graphs. One row per batch size says how the batch was served
(its own graph, a larger one it was padded up to, or eagerly above the largest size) and how far
replay is from eager. Exits 1 on a mismatch, 2 on bad input or an absent device.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

import vllm_ascend_graphs
from vllm_ascend_graphs import GraphConfigError
from vllm_ascend_graphs.runtime.devices import DEVICES, get_device

TORCH_DEVICES = {"sim": "cpu", "cuda": "cuda", "npu": "npu"}
HIDDEN = 64
TOLERANCE = 1e-4  # largest difference allowed, relative to the largest eager output


class Block(torch.nn.Module):
    """A pre-norm MLP block. Rows are independent, as the runtime's padding requires of dim 0."""

    def __init__(self, hidden: int = HIDDEN):
        super().__init__()
        self.norm = torch.nn.LayerNorm(hidden)
        self.up = torch.nn.Linear(hidden, 4 * hidden)
        self.down = torch.nn.Linear(4 * hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(torch.nn.functional.gelu(self.up(self.norm(x))))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=DEVICES, default="sim", help="device graph API (default: sim)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8], metavar="N",
                        help="batch sizes to capture (default: 1 2 4 8)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        get_device(args.device)  # a one-line error when the device is absent here (on npu: imports torch_npu)
        torch.manual_seed(0)
        block = Block().to(TORCH_DEVICES[args.device]).eval()
        example = torch.randn(2, HIDDEN, device=TORCH_DEVICES[args.device])
        runner = vllm_ascend_graphs.capture(block, [example], sizes=args.sizes, device=args.device)
    except GraphConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    captured = sorted(size for size, _ in runner.captured)
    print(f"{args.device}: graphs at batch sizes {captured} ({runner.mode.name}); tolerance {TOLERANCE:g} (relative)\n")
    print(f"{'tokens':>6}  {'served by':<25}  {'max abs diff':>12}  result")
    failed = 0
    with torch.no_grad():
        for tokens in sorted({*runner.sizes, *(size + 1 for size in runner.sizes)}):
            x = torch.randn(tokens, HIDDEN, device=example.device)
            eager, replayed = block(x), runner(x)
            diff = (replayed - eager).abs().max().item()
            ok = diff <= TOLERANCE * eager.abs().max().item()  # False for NaN too
            failed += not ok
            print(f"{tokens:>6}  {served_by(runner.padded_size(tokens), tokens):<25}  {diff:>12.3e}  "
                  f"{'ok' if ok else 'MISMATCH'}")
    return 1 if failed else 0


def served_by(padded: int | None, tokens: int) -> str:
    if padded is None:
        return "eager (above the largest)"
    return f"graph {padded}" + (f" (padded from {tokens})" if padded != tokens else "")


if __name__ == "__main__":
    raise SystemExit(main())
