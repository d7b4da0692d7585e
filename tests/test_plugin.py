"""An outside package adds a codec through the `bench.codecs` entry-point group."""

import os
import subprocess
import sys
import textwrap

import pytest

PLUGIN_PY = '''
import dataclasses
import numpy as np
from bench.codecs.base import Codec, EncodeResult


@dataclasses.dataclass(frozen=True)
class HalfConfig:
    gain: float = 0.5


class HalfCodec(Codec):
    """8-bit linear PCM: a toy outside codec."""
    Config = HalfConfig
    sample_rate = 16000
    frame_rate = 16000.0
    vocab_sizes = (256,)

    def encode(self, wave):
        q = np.clip(np.round((np.asarray(wave) + 1.0) * 127.5), 0, 255).astype(np.int64)
        return EncodeResult(q[None, :])

    def decode(self, tokens):
        return (tokens[0] / 127.5 - 1.0).astype(np.float32)
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "bench_toy_plugin").mkdir()
    (src / "bench_toy_plugin" / "__init__.py").write_text(PLUGIN_PY)
    (src / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "bench-toy-plugin"
        version = "0.0.1"
        [project.entry-points."bench.codecs"]
        toy8 = "bench_toy_plugin:HalfCodec"
        [tool.setuptools]
        packages = ["bench_toy_plugin"]
    """))
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--target", str(target), str(src)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build the plugin here: {proc.stderr[-500:]}")
    return str(target)


def _bench(args, plugin_path, cwd):
    env = dict(os.environ, PYTHONPATH=plugin_path + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_plugin_listed_and_runnable(plugin_path, tmp_path):
    listed = _bench(["list", "codecs"], plugin_path, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "toy8" in listed.stdout and "plugin:bench-toy-plugin" in listed.stdout
    ran = _bench(["run", "--codec", "toy8:gain=0.25", "--dataset", "synthetic", "--limit", "2",
                  "--out", str(tmp_path / "out"), "--no-progress"], plugin_path, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "toy8 / synthetic / reconstruction" in ran.stdout
    assert "2/2 measured" in ran.stdout


def test_plugin_passes_conformance(plugin_path):
    sys.path.insert(0, plugin_path)
    try:
        from bench.testing import check_codec

        import bench_toy_plugin

        check_codec(bench_toy_plugin.HalfCodec())
    finally:
        sys.path.remove(plugin_path)
