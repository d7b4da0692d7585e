"""The test tiers: in CI a skipped test is a failure (except for an allowed optional backend)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(tmp_path, body: str, ci: bool) -> subprocess.CompletedProcess:
    shutil.copy(os.path.join(HERE, "conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_one.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)


def test_a_missing_extra_fails_in_ci_and_skips_elsewhere(tmp_path):
    body = "import pytest\n\ndef test_x():\n    pytest.importorskip('no_such_backend_here')\n"
    assert _run(tmp_path, body, ci=False).returncode == 0
    proc = _run(tmp_path, body, ci=True)
    assert proc.returncode == 1 and "skipped in CI" in proc.stdout


def test_an_allowed_optional_backend_may_skip_in_ci(tmp_path):
    body = "import pytest\n\ndef test_x():\n    pytest.skip(\"could not import 'lhotse': none\")\n"
    assert _run(tmp_path, body, ci=True).returncode == 0
