"""Our own neural audio codec: an EnCodec-style autoencoder (STFT front end, strided 1-D
convolutions, inverse-STFT decoder) whose latent is quantized by residual vector quantization
(RVQ), trained here on CPU.

Files, each doing one thing:

- ``config.py``     the model's shape (torch-free, so listing codecs imports no torch)
- ``model.py``      encoder and mirrored decoder: spectral (STFT, ConvNeXt) and waveform variants
- ``quantizer.py``  residual vector quantizer with EMA codebooks, k-means init, dead-code restart
- ``checkpoint.py`` the shipped float16 checkpoint and its SHA-256 sidecar: verified loading
- ``codec.py``      the adapter that implements the bench codec contract (presets rvq-1q..rvq-8q)

Training it is a recipe, outside the runtime package: ``recipes/rvq/`` (losses, the training
loop, discriminators, distillation, export, the ``bench train rvq`` command).
"""
