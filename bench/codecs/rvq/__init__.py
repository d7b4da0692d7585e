"""Our own neural audio codec: an EnCodec-style convolutional autoencoder whose latent is
quantized by residual vector quantization (RVQ), trained here on CPU.

Files, each doing one thing:

- ``config.py``     the model's shape (torch-free, so listing codecs imports no torch)
- ``model.py``      encoder and mirrored decoder (strided 1-D convolutions, residual units)
- ``quantizer.py``  residual vector quantizer with EMA codebooks, k-means init, dead-code restart
- ``losses.py``     multi-scale mel and multi-resolution STFT reconstruction losses
- ``train.py``      the training loop (``bench train rvq``): deterministic, resumable, Ctrl-C safe
- ``checkpoint.py`` shipping: export a float16 checkpoint with a SHA-256 sidecar, verified loading
- ``codec.py``      the adapter that implements the bench codec contract (presets rvq-1q..rvq-8q)
- ``cli.py``        the ``bench train rvq`` command
"""
