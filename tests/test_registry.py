import subprocess
import sys

import pytest

from bench.config import ConfigError
from bench.registry import CODECS, Registry, RegistryError, parse_spec
from bench.runner import build_codec


def test_parse_spec():
    assert parse_spec("mulaw") == ("mulaw", {})
    assert parse_spec("mulaw:bits=4, sample_rate=8000") == ("mulaw", {"bits": "4", "sample_rate": "8000"})
    with pytest.raises(RegistryError, match="key=value"):
        parse_spec("mulaw:bits")


def test_unknown_name_suggests():
    with pytest.raises(RegistryError, match="Did you mean 'mulaw'"):
        CODECS.get("mulav")


def test_alias_and_preset_defaults():
    assert CODECS.get("mu-law").name == "mulaw"
    codec = build_codec("mulaw-4bit")
    assert codec.config.bits == 4
    assert build_codec("mulaw-4bit:bits=5").config.bits == 5  # options override presets


def test_unknown_option_is_one_clear_error():
    with pytest.raises(ConfigError) as err:
        build_codec("mulaw:bitz=3")
    msg = str(err.value)
    assert "bitz" in msg and "did you mean 'bits'" in msg and "\n" not in msg


def test_bad_option_value():
    with pytest.raises(ConfigError, match="expects an integer"):
        build_codec("mulaw:bits=four")
    with pytest.raises(ConfigError, match="between 2 and 16"):
        build_codec("mulaw:bits=1")


def test_duplicate_registration_refused():
    reg = Registry("thing", "bench.test-nothing")
    reg.register("a", "x:y")
    with pytest.raises(RegistryError, match="already"):
        reg.register("a", "x:z")


def test_listing_imports_no_backend():
    code = (
        "import sys, bench.cli as c; c.main(['list']); "
        "heavy = [m for m in ('torch', 'transformers', 'faster_whisper', 'lameenc', 'pesq', 'librosa') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
    assert "identity" in out and "reconstruction" in out
