"""Optional adversarial training of the RVQ codec: discriminators and their losses.

Regression losses (mel, STFT, complex) make the decoder predict the average of what could
have been: where the fine structure is uncertain (harmonics above ~1 kHz, the exact shape of
a formant) the average is a smeared spectrum, which PESQ scores poorly (docs/rvq.md, "Where
the PESQ gap is"). A discriminator penalises outputs that do not look like real speech.

Two families, both kept narrow for CPU training:

- **Multi-period** (HiFi-GAN, Kong et al. 2020, sec. 2.2): the waveform folded into a 2-D
  grid of ``period`` columns, 2-D convolutions with kernels (5, 1), so each one sees samples
  one period apart: periodic (harmonic) structure. Periods 2, 3, 5, 7, 11 as in the paper.
- **Multi-resolution STFT** (EnCodec, Défossez et al. 2022, sec. 3.4, uses complex STFTs at
  several window sizes): here on the power-law compressed complex STFT ``S|S|^(0.3-1)``
  (real and imaginary parts as two channels) so that quiet bands are not invisible.

Losses: least squares (LSGAN, as in HiFi-GAN), and feature matching, the L1 distance of every
intermediate feature map between real and generated audio, each divided by the mean absolute
value of the real map (EnCodec, eq. 4), so every layer counts about the same.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from bench.codecs.rvq.model import power_compress

#: (logits, feature maps) of one discriminator
Output = tuple[torch.Tensor, list[torch.Tensor]]


def _run(layers: nn.ModuleList, out: nn.Module, h: torch.Tensor, slope: float) -> Output:
    """Each layer then a leaky ReLU; every activation is kept for feature matching."""
    features = []
    for layer in layers:
        h = nn.functional.leaky_relu(layer(h), slope)
        features.append(h)
    return out(h), features


class PeriodDiscriminator(nn.Module):
    """Waveform [B, 1, n] folded to [B, 1, n/p, p]; strided (5, 1) convolutions down the
    folded time axis, so the columns (sample phases within the period) never mix until the
    logits."""

    def __init__(self, period: int, channels: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        self.period = period
        layers, cin = [], 1
        for cout in channels:
            layers.append(weight_norm(nn.Conv2d(cin, cout, (5, 1), stride=(3, 1), padding=(2, 0))))
            cin = cout
        layers.append(weight_norm(nn.Conv2d(cin, cin, (5, 1), padding=(2, 0))))
        self.layers = nn.ModuleList(layers)
        self.out = weight_norm(nn.Conv2d(cin, 1, (3, 1), padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> Output:
        n = x.shape[-1]
        extra = (-n) % self.period
        if extra:
            x = nn.functional.pad(x, (0, extra), mode="reflect")
        return _run(self.layers, self.out, x.view(x.shape[0], 1, -1, self.period), 0.1)


class STFTDiscriminator(nn.Module):
    """Compressed complex STFT [B, 2, frames, bins]; kernels (3, 9) over (time, frequency),
    the frequency axis halved by the first layer and by each dilated one."""

    def __init__(self, n_fft: int, channels: int = 16, dilations: tuple[int, ...] = (1, 2, 4),
                 power: float = 0.3):
        super().__init__()
        self.n_fft, self.power = n_fft, power
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        layers = [weight_norm(nn.Conv2d(2, channels, (3, 9), stride=(1, 2), padding=(1, 4)))]
        for d in dilations:
            layers.append(weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2),
                                                dilation=(d, 1), padding=(d, 4))))
        layers.append(weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))))
        self.layers = nn.ModuleList(layers)
        self.out = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> Output:
        spec = torch.stft(x.reshape(x.shape[0], -1), self.n_fft, hop_length=self.n_fft // 4,
                          window=self.window, center=True, return_complex=True)
        spec = power_compress(spec, self.power).transpose(1, 2)  # [B, frames, bins]
        return _run(self.layers, self.out, torch.stack([spec.real, spec.imag], dim=1), 0.2)


class Discriminators(nn.Module):
    """All discriminators; ``forward`` returns one (logits, features) per discriminator."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11),
                 n_ffts: tuple[int, ...] = (256, 512, 1024)):
        super().__init__()
        self.members = nn.ModuleList([PeriodDiscriminator(p) for p in periods]
                                     + [STFTDiscriminator(n) for n in n_ffts])

    def forward(self, x: torch.Tensor) -> list[Output]:
        return [member(x) for member in self.members]


def discriminator_loss(real: list[Output], fake: list[Output]) -> torch.Tensor:
    """LSGAN: real logits toward 1, generated toward 0; mean over discriminators."""
    total = sum((1 - r).pow(2).mean() + f.pow(2).mean() for (r, _), (f, _) in zip(real, fake))
    return total / len(real)


def generator_losses(real: list[Output], fake: list[Output]) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial, feature matching) for the generator; ``real`` should be detached.

    Adversarial: generated logits toward 1 (LSGAN). Feature matching: per layer, mean |f_fake
    - f_real| / mean |f_real|; both averaged over discriminators (and layers)."""
    adv = sum((1 - f).pow(2).mean() for f, _ in fake) / len(fake)
    fm, count = fake[0][0].new_zeros(()), 0
    for (_, real_maps), (_, fake_maps) in zip(real, fake):
        for r, f in zip(real_maps, fake_maps):
            fm = fm + (f - r).abs().mean() / r.abs().mean().clamp(min=1e-6)
            count += 1
    return adv, fm / max(1, count)
