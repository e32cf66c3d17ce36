"""The one rule for a missing tool: skip on a developer's machine, fail under CI=true."""
from __future__ import annotations

import pytest

import testkit


def test_missing_setup_tool_fails_under_ci(monkeypatch):
    monkeypatch.setattr(testkit.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: valgrind not installed"):
        testkit.need("valgrind")


def test_missing_setup_tool_skips_outside_ci(monkeypatch):
    monkeypatch.setattr(testkit.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="heaptrack not installed"):
        testkit.need("heaptrack")


def test_missing_module_fails_under_ci(monkeypatch):
    monkeypatch.setattr(testkit.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="llama_cpp"):
        testkit.need("llama_cpp")


def test_missing_names_only_what_is_absent():
    assert testkit.missing("sh", "no-such-tool-xyz") == ["no-such-tool-xyz"]
    testkit.need("sh")    # present: returns, neither skip nor fail
