"""Training the RVQ codec :mod:`bench.codecs.rvq` (``bench train rvq``, docs/rvq.md).

- ``losses.py``       multi-scale mel, multi-resolution STFT and compressed complex STFT losses
- ``sampling.py``     length-weighted crop picks and random gain, shared by train and distill
- ``train.py``        the training loop: deterministic, resumable, Ctrl-C safe
- ``adversarial.py``  multi-period and multi-resolution STFT discriminators (LSGAN)
- ``distill.py``      Whisper tiny.en encoder features distilled into RVQ level 1
- ``export.py``       a training checkpoint -> the shipped float16 ``rvq.pt`` and its sidecar
- ``stats.py``        parameters, real-time factor, per-level codebook usage (``--report``)
- ``cli.py``          the ``bench train rvq`` command
"""
