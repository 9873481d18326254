"""Probes of the machine: device, libraries, installed distributions and vllm-ascend's facts."""
