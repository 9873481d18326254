"""`make demo` says up front that its tiny model's weights are random, so its text is noise by design."""

from __future__ import annotations

import sys

import pytest


def test_the_demo_says_its_model_has_random_weights(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # what its import sets: undone after the test
    import offline_inference
    import tiny_model

    monkeypatch.setattr(tiny_model, "build_tiny_model", lambda directory: tmp_path)
    monkeypatch.setattr(sys, "argv", ["offline_inference.py"])
    monkeypatch.setitem(sys.modules, "vllm", None)  # stop right before the engine starts
    with pytest.raises(ImportError):
        offline_inference.main()
    out = capsys.readouterr().out
    assert f"{tmp_path}: a tiny Llama with random weights" in out and "noise by design" in out
