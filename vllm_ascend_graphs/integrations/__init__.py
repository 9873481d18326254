"""Integrations with serving engines; only `integrations/vllm/` imports vllm."""
