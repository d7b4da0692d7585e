import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test, as the tasks pin it (``threads=1``): tests that call a
    model's parts directly get the same numbers, and no thread pool spins on a busy machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def realspeech():
    path = os.path.join(SHARED, "realspeech")
    if not os.path.isfile(os.path.join(path, "manifest.jsonl")):
        pytest.skip("../shared/realspeech is absent")
    return path


#: Skips that CI accepts: an optional backend that no extra of ``./install.sh --test`` installs.
#: Any other skip in CI (a missing extra, an absent ../shared/realspeech) is a failure, so a test
#: never passes CI by not running.
CI_ALLOWED_SKIPS = ("could not import 'lhotse'",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes") or not report.skipped:
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if any(allowed in reason for allowed in CI_ALLOWED_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where every extra is installed: {reason}"


def child_pids(parent: int, cmd_contains: bytes | None = None, exclude: bytes | None = b"resource_tracker") -> list[int]:
    """Live (not zombie) child processes of ``parent`` from /proc, optionally only those whose
    command line contains ``cmd_contains``; the stdlib's resource tracker is left out."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if int(fields[1]) != parent or fields[0] == "Z":
            continue
        if (cmd_contains is None or cmd_contains in cmd) and not (exclude and exclude in cmd):
            out.append(int(name))
    return out
