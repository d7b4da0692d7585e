"""Conformance checks every codec must pass, exported for plugin authors.

Use from pytest::

    from bench.testing import CONFORMANCE_CHECKS, check_codec

    @pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda c: c.__name__)
    def test_my_codec(check):
        check(MyCodec())

or call ``check_codec(codec)`` to run them all (raises AssertionError on the first failure).

The token consistency suite (determinism, tandem, chunking, padding; docs/tokens.md) is used
the same way: ``CONSISTENCY_CHECKS`` and ``check_consistency(codec)``; ``NonDeterministicTokens``
is a codec that fails it.
"""

from bench.testing.conformance import (CONFORMANCE_CHECKS, check_bitrate_consistent,
                                       check_codec, check_cpu_only, check_decoded_length,
                                       check_declared_facts, check_deterministic,
                                       check_tokens_valid, probe_signal)
from bench.testing.consistency import (CONSISTENCY_CHECKS, NonDeterministicTokens, check_chunking,
                                       check_consistency, check_encode_deterministic,
                                       check_padding_invariant, check_tandem)

__all__ = [
    "CONFORMANCE_CHECKS", "check_codec", "check_declared_facts", "check_tokens_valid",
    "check_decoded_length", "check_deterministic", "check_bitrate_consistent", "check_cpu_only",
    "probe_signal", "CONSISTENCY_CHECKS", "check_consistency", "check_encode_deterministic", "check_tandem",
    "check_chunking", "check_padding_invariant", "NonDeterministicTokens",
]
