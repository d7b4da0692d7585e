"""Our own neural audio codec: an EnCodec-style autoencoder (STFT front end, strided 1-D
convolutions, inverse-STFT decoder) whose latent is quantized by residual vector quantization
(RVQ), trained here on CPU.

Files, each doing one thing:

- ``config.py``     the model's shape (torch-free, so listing codecs imports no torch)
- ``model.py``      encoder and mirrored decoder: spectral (STFT, ConvNeXt) and waveform variants
- ``quantizer.py``  residual vector quantizer with EMA codebooks, k-means init, dead-code restart
- ``losses.py``     multi-scale mel, multi-resolution STFT and compressed complex STFT losses
- ``train.py``      the training loop (``bench train rvq``): deterministic, resumable, Ctrl-C safe
- ``checkpoint.py`` shipping: export a float16 checkpoint with a SHA-256 sidecar, verified loading
- ``codec.py``      the adapter that implements the bench codec contract (presets rvq-1q..rvq-8q)
- ``cli.py``        the ``bench train rvq`` command
"""
