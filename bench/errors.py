"""Errors that are the user's to fix: the CLI prints them as one line, without a traceback."""

from bench.audio import AudioError
from bench.codecs.base import CodecError
from bench.config import ConfigError
from bench.datasets.manifest import ManifestError
from bench.registry import RegistryError
from bench.results import ResultError

USER_ERRORS = (ConfigError, RegistryError, ManifestError, ResultError, CodecError, AudioError)


def _late() -> tuple:
    from bench.listening import ListeningError
    from bench.runner import RunError

    return (RunError, ListeningError)


USER_ERRORS = USER_ERRORS + _late()
