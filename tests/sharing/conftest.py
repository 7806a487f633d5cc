"""Every test here is offline for the Hub: huggingface_hub in offline mode, its cache and home in the test's own
folder (no token, nothing of the user's), in this process and in the CLI subprocesses the tests start."""

import pytest


@pytest.fixture(autouse=True)
def offline_hub(tmp_path, monkeypatch):
    cache, home = tmp_path / "hf-cache", tmp_path / "hf-home"
    for name, value in {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(home)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        from huggingface_hub import constants
    except ImportError:
        return cache
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    return cache
