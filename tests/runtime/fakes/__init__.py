"""Faithful stand-ins for torch_npu, npugraph_ex, torchair and xlite, installed only inside a test."""
