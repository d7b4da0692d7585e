"""Building the corpus synth-speech (``bench data build``, docs/datasets.md).

- ``sentences.py``  the sentences written for the corpus (their hash is in its recipe.json)
- ``build.py``      espeak-ng / MBROLA synthesis, labels, SHA256SUMS; rebuild and compare
- ``extra.py``      synth-speech-extra, more training speech for the RVQ codec (not shipped)
- ``cli.py``        the ``bench data build`` command

Loading the frozen corpus needs none of this: :mod:`bench.datasets.synth_speech`.
"""
