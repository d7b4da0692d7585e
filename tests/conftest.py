import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def realspeech():
    path = os.path.join(SHARED, "realspeech")
    if not os.path.isfile(os.path.join(path, "manifest.jsonl")):
        pytest.skip("../shared/realspeech is absent")
    return path
