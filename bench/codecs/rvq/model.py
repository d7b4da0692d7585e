"""EnCodec-style autoencoders with a residual vector quantizer in the middle.

Convolutional variant (Défossez et al. 2022, fig. 1, without the LSTM to stay CPU-cheap): a
1-D conv, then for each stride ``s`` a stage of residual units followed by a strided conv
(kernel 2s) that doubles the channels, then a conv to the latent dimension. The decoder
mirrors it with transposed convs. ELU activations and weight normalization throughout (as in
EnCodec's non-streaming model). Padding is symmetric ("same"), so ``n`` samples (a multiple of
the hop) give exactly ``n / hop`` frames and decode back to ``n`` samples.

Spectral variant (``ModelConfig.spectral_hop > 0``, the shipped one): the same stages, but the
outermost one is a fixed STFT (``Spectrum``) and the decoder ends in its inverse, so every
learned layer runs at the STFT frame rate or below; ConvNeXt blocks replace the residual units.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from bench.codecs.rvq.config import ModelConfig
from bench.codecs.rvq.quantizer import QuantizerOutput, ResidualVQ


def power_compress(spec: torch.Tensor, power: float) -> torch.Tensor:
    """``S |S|^(power - 1)``: magnitude raised to ``power``, phase kept (1 / power inverts it)."""
    return spec * (spec.abs() + 1e-8).pow(power - 1.0)


def _conv(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Module:
    """Stride-1 conv with "same" padding (odd kernels)."""
    return weight_norm(nn.Conv1d(cin, cout, kernel, dilation=dilation,
                                 padding=dilation * (kernel - 1) // 2))


class Downsample(nn.Module):
    """Conv with kernel 2s, stride s; padding s (s//2 left, the rest right) maps a length
    that is a multiple of s to exactly length / s."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.pad = (stride // 2, stride - stride // 2)
        self.conv = weight_norm(nn.Conv1d(cin, cout, 2 * stride, stride=stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.pad(x, self.pad))


class ResidualUnit(nn.Module):
    """ELU -> dilated conv (k=3, channels/2) -> ELU -> 1x1 conv, plus the skip connection."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(), _conv(channels, channels // 2, 3, dilation=dilation),
            nn.ELU(), _conv(channels // 2, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class Upsample(nn.Module):
    """Transposed conv with kernel 2s, stride s; trims s samples so T frames give T*s."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = weight_norm(nn.ConvTranspose1d(cin, cout, 2 * stride, stride=stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # length (T + 1) * s
        left = self.stride // 2
        return y[..., left: y.shape[-1] - (self.stride - left)]


class RunningStandardize(nn.Module):
    """Per-channel standardisation of the latents (BatchNorm without affine parameters).

    Our addition (not in EnCodec): a freshly initialised encoder emits a tiny cloud around a
    large bias, and its scale then grows tenfold within tens of steps: faster than EMA
    codebooks can follow, so every vector lands on one code (collapse within ~15 steps in
    our short CPU runs). Standardising with the batch's statistics in training (Ioffe &
    Szegedy 2015) keeps the cloud at unit scale so the codebooks keep up. Inference uses the
    running statistics, so a frame's code never depends on other inputs; the momentum is
    high (0.1) so they follow the encoder closely.
    """

    def __init__(self, dim: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        #: Set by the trainer after a warm-up: training then also normalises with the running
        #: statistics (still updating them), so training and inference see the same latents
        #: and the deep RVQ levels, whose residuals are small, are fit to inference latents.
        self.use_running = False
        # float64: the pre-norm scale is unbounded (see forward) and its variance outgrows
        # float32 long before the float32 activations themselves overflow.
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("initialized", torch.tensor(False))
        self.scale_loss: torch.Tensor | None = None  # set by each training forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The loss cannot see the scale of x (it is divided out), so nothing stops it from
        # drifting: it reached 1e19 by step 6,800 of our first long run, whose square
        # overflows float32. Statistics and the division are therefore computed in float64.
        x64 = x.double()
        if self.training:
            m, v = x64.mean(dim=(0, 2)), x64.var(dim=(0, 2))
            # ``scale_loss`` (squared log of the mean pre-norm variance) lets the trainer hold
            # the scale near 1 (--scale-weight).
            self.scale_loss = torch.log(v.mean() + self.eps).pow(2)
            with torch.no_grad():
                if not bool(torch.isfinite(m).all() and torch.isfinite(v).all()):
                    pass  # a non-finite batch (skipped by the trainer) must not poison the stats
                elif not bool(self.initialized):
                    self.mean.copy_(m)
                    self.var.copy_(v)
                    self.initialized.fill_(True)
                else:
                    self.mean.lerp_(m, self.momentum)
                    self.var.lerp_(v, self.momentum)
            if self.use_running:
                m, v = self.mean, self.var
        else:
            m, v = self.mean, self.var
        return ((x64 - m[None, :, None]) / torch.sqrt(v + self.eps)[None, :, None]).to(x.dtype)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7, dilated) -> LayerNorm -> 1x1 up (3x) -> GELU -> 1x1 down, scaled
    by a learned per-channel gain (initially small), plus the skip (Liu et al. 2022, as
    used at frame rate by Vocos, Siuzdak 2023)."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.dw = nn.Conv1d(channels, channels, 7, padding=3 * dilation, dilation=dilation,
                            groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.up, self.down = nn.Linear(channels, 3 * channels), nn.Linear(3 * channels, channels)
        self.gain = nn.Parameter(torch.full((channels,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.dw(x).transpose(1, 2))
        h = self.down(nn.functional.gelu(self.up(h))) * self.gain
        return x + h.transpose(1, 2)


def _blocks(cfg: ModelConfig, channels: int) -> list[nn.Module]:
    if cfg.block == "convnext":
        return [ConvNeXtBlock(channels, d) for d in cfg.res_dilations]
    return [ResidualUnit(channels, d) for d in cfg.res_dilations]


class Spectrum(nn.Module):
    """The fixed first and last layers of the spectral variant: an STFT (Hann window of four
    hops) whose power-law compressed complex values S|S|^(c-1) are the encoder's input
    channels, and its inverse for the decoder, which predicts compressed values in the same
    form. The STFT is a strided conv with a fixed Fourier kernel and the inverse STFT a
    transposed one, so the spectral model is the convolutional one with its outermost
    stride-``hop`` stage fixed; the stages that remain run at the frame rate of the STFT,
    where wide layers are cheap."""

    power = 0.3

    def __init__(self, hop: int):
        super().__init__()
        self.hop, self.n_fft = hop, 4 * hop
        self.bins = self.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def analyse(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, 1, n] (n a multiple of hop) -> [B, 2 * bins, n / hop]."""
        spec = torch.stft(wave[:, 0], self.n_fft, self.hop, window=self.window, center=True,
                          return_complex=True)[..., :-1]  # n/hop + 1 frames: drop the last
        spec = power_compress(spec, self.power)
        return torch.cat([spec.real, spec.imag], dim=1)

    def synthesise(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 2 * bins, T] -> [B, 1, T * hop]."""
        frames = x.shape[-1]
        x = nn.functional.pad(x, (0, 1), mode="replicate")  # the frame analyse dropped
        c = torch.complex(x[:, : self.bins], x[:, self.bins:])
        spec = power_compress(c, 1.0 / self.power)
        wave = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True,
                           length=frames * self.hop)
        return wave[:, None, :]


class Encoder(nn.Module):
    """Waveform [B, 1, n] -> latents [B, latent_dim, n / hop].

    A first conv (on the waveform, or on the STFT's channels in the spectral variant), then
    for each stride a stage of blocks and a strided conv that doubles the channels; the
    spectral variant adds blocks at the token rate, where they are cheapest; a conv to the
    latent dimension; the running standardisation."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.spectrum = Spectrum(cfg.spectral_hop) if cfg.spectral_hop else None
        ch = cfg.channels
        layers: list[nn.Module] = [_conv(2 * self.spectrum.bins if self.spectrum else 1, ch, 7)]
        for s in cfg.strides:
            layers += _blocks(cfg, ch)
            layers += [nn.ELU(), Downsample(ch, 2 * ch, s)]
            ch *= 2
        if self.spectrum:
            layers += _blocks(cfg, ch)
        layers += [nn.ELU(), _conv(ch, cfg.latent_dim, 3)]
        self.net = nn.Sequential(*layers)
        self.norm = RunningStandardize(cfg.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spectrum is not None:
            x = self.spectrum.analyse(x)
        return self.norm(self.net(x))


class Decoder(nn.Module):
    """Latents [B, latent_dim, T] -> waveform [B, 1, T * hop]: the mirror of the encoder, with
    transposed convs, ending in the inverse STFT in the spectral variant."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.spectrum = Spectrum(cfg.spectral_hop) if cfg.spectral_hop else None
        ch = cfg.channels * 2 ** len(cfg.strides)
        layers: list[nn.Module] = [_conv(cfg.latent_dim, ch, 7)]
        if self.spectrum:
            layers += _blocks(cfg, ch)
        for s in reversed(cfg.strides):
            layers += [nn.ELU(), Upsample(ch, ch // 2, s)]
            ch //= 2
            layers += _blocks(cfg, ch)
        layers += [nn.ELU(), _conv(ch, 2 * self.spectrum.bins if self.spectrum else 1, 7)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.net(z)
        return self.spectrum.synthesise(y) if self.spectrum is not None else y


class RVQAutoencoder(nn.Module):
    """Encoder -> ResidualVQ -> Decoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualVQ(cfg.latent_dim, cfg.n_q, cfg.codebook_size)
        self.decoder = Decoder(cfg)

    def pad(self, wave: torch.Tensor) -> torch.Tensor:
        """Zero-pad the last axis up to a multiple of the hop."""
        extra = (-wave.shape[-1]) % self.cfg.hop
        return nn.functional.pad(wave, (0, extra)) if extra else wave

    def forward(self, wave: torch.Tensor, n_active: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, QuantizerOutput]:
        """Training pass: wave [B, 1, n] (n a multiple of hop) -> (reconstruction, quantizer)."""
        z = self.encoder(wave)
        q = self.quantizer(z, n_active)
        return self.decoder(q.quantized), q

    @torch.no_grad()
    def encode(self, wave: torch.Tensor, n_q: int) -> torch.Tensor:
        """wave [B, 1, n] -> codes int64 [n_q, B, ceil(n / hop)]."""
        return self.quantizer.encode(self.encoder(self.pad(wave)), n_q)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [n, B, T] -> wave [B, 1, T * hop]."""
        return self.decoder(self.quantizer.decode(codes))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (codebooks are EMA buffers and counted separately)."""
    return sum(p.numel() for p in model.parameters())
