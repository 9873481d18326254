"""`python -m vllm_ascend_graphs` runs the CLI."""

from .cli import main

raise SystemExit(main())
