"""Integration fixtures: the tiny synthetic twins, written once per session into a private cache."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """{"tiny-0.6b": Path, "tiny-1.7b": Path}: a few-MB Qwen3-shaped GGUF pair that llama.cpp loads."""
    from profiler.models import ensure_twin

    cache = tmp_path_factory.mktemp("memprof-models")
    return {alias: ensure_twin(alias, cache_dir=cache, show_progress=False) for alias in ("tiny-0.6b", "tiny-1.7b")}
