"""Recipes: how bench's own artefacts were made, kept out of the runtime package ``bench``.

- ``recipes/rvq/``           training our RVQ codec (``bench train rvq``): losses, the training
                             loop, discriminators, Whisper distillation, export, reports
- ``recipes/synth_speech/``  building the corpus synth-speech and its training supplement
                             (``bench data build``), and the sentences they are made from

``bench`` evaluates without them: it ships the trained checkpoint and the frozen corpus, and
imports a recipe only when one of these two commands runs. Recipes may import ``bench``;
nothing under ``bench/`` imports ``recipes`` (tests/test_layering.py).
"""
