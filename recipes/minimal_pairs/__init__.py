"""Building the set minimal-pairs (``bench data build minimal-pairs``, docs/abx.md).

- ``build.py``  the words, the espeak-ng phoneme check, synthesis, labels, SHA256SUMS; rebuild
  and compare

Loading the frozen set needs none of this: :mod:`bench.datasets.minimal_pairs`.
"""
