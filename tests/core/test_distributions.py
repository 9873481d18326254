"""Our metadata reader agrees with importlib.metadata, which it replaces for start-up speed."""

from __future__ import annotations

import importlib.metadata

from vllm_ascend_graphs.probes import distributions


def test_versions_agree_with_importlib_metadata():
    for name in ("pluggy", "pytest", "hypothesis", "vllm-ascend-graphs"):
        assert distributions.version(name) == importlib.metadata.version(name)
    assert distributions.version("Vllm_Ascend.Graphs") == importlib.metadata.version("vllm-ascend-graphs")
    assert distributions.version("surely-not-installed-here") is None


def test_entry_points_agree_with_importlib_metadata():
    ours = {(ep.name, ep.value) for ep in distributions.entry_points("console_scripts")}
    theirs = {(ep.name, ep.value) for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert ours == theirs
    script = next(ep for ep in distributions.entry_points("console_scripts") if ep.name == "vllm-ascend-graphs")
    assert script.dist.name == "vllm-ascend-graphs"
    assert callable(script.load())


def test_egg_info_without_a_version_in_its_name(tmp_path, monkeypatch):
    info = tmp_path / "Old_Style.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: Old-Style\nVersion: 3.4.5\n")
    (info / "entry_points.txt").write_text("[other]\nx = y\n\n[vllm_ascend_graphs]\n# a comment\nold = json:dumps\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert distributions.version("old-style") == "3.4.5"
    (entry,) = distributions.entry_points("vllm_ascend_graphs")[:1]
    assert (entry.name, entry.value, entry.dist.name) == ("old", "json:dumps", "old-style")
    import json

    assert entry.load() is json.dumps
