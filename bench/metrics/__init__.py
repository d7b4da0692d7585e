"""Metrics: pure functions that tasks compose.

* :mod:`bench.metrics.signal`: PESQ (with long-item segmentation), STOI/ESTOI, SI-SDR, mel L1,
  multi-resolution STFT, SPTK mel-cepstral distortion, and :class:`~bench.metrics.signal.Spectra`;
* :mod:`bench.metrics.f0`: Praat F0 tracking and F0 deviation / voicing errors;
* :mod:`bench.metrics.text`: the Whisper English normaliser, word/character error counts,
  hallucinated-loop detection;
* :mod:`bench.metrics.speaker`: speaker embedding models, cosine similarity, equal error rate,
  verification trials;
* :mod:`bench.metrics.stats`: the bootstrap interval and failure accounting every task's
  corpus numbers go through.

A metric takes arrays or strings and returns a float, or a :class:`~bench.types.Failed`
with the reason it could not be computed; it never returns a made-up score. Nothing here is
imported eagerly: each module loads only the libraries it needs, when it is imported.
"""
