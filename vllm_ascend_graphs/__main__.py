"""`python -m vllm_ascend_graphs` runs the CLI."""

from .entrypoints.cli import main

raise SystemExit(main())
