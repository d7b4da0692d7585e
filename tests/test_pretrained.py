"""Pretrained codec adapters (EnCodec, DAC, Mimi via transformers; SNAC), tested on small
random-initialised models saved the way the real checkpoints are and loaded through exactly the
user's path: ``build_codec("<preset>:weights=DIR")`` or the local Hugging Face cache."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
snac = pytest.importorskip("snac")

from bench.cli import main  # noqa: E402
from bench.codecs.base import CodecError, token_bitrate  # noqa: E402
from bench.codecs.pretrained_weights import WeightsNotFound  # noqa: E402
from bench.runner import build_codec  # noqa: E402
from bench.testing import CONFORMANCE_CHECKS, probe_signal  # noqa: E402

#: random-initialised pretrained models: tens of seconds in all, the slow tier
pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- small models, saved like the real checkpoints ---------------------------------------------
def _small_hf_model(kind: str):
    model = _build_hf_model(kind)
    # transformers initialises the EnCodec and Mimi codebooks to zeros (trained ones are loaded
    # over them), which would map every frame to code 0: give them small random entries (small,
    # so that the nearest entry depends on the direction of the latent and changes over time)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith(("codebook.embed", "codebook.embed_sum")):
                buf.normal_(0.0, 0.01)
    return model


def _build_hf_model(kind: str):
    torch.manual_seed(0)
    if kind == "encodec":  # hop 320 at 24 kHz (75 Hz) like facebook/encodec_24khz; 8-bit codebooks
        config = transformers.EncodecConfig(
            num_filters=8, hidden_size=32, codebook_size=256, codebook_dim=32, num_lstm_layers=1,
            upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[1.2, 2.4, 4.8])  # 2, 4, 8 quantizers
        return transformers.EncodecModel(config)
    if kind == "dac":  # hop 320 at 16 kHz (50 Hz) like descript/dac_16khz
        config = transformers.DacConfig(
            encoder_hidden_size=16, decoder_hidden_size=64, hidden_size=128, n_codebooks=4,
            codebook_size=256, downsampling_ratios=[2, 4, 5, 8], upsampling_ratios=[8, 5, 4, 2])
        return transformers.DacModel(config)
    if kind == "mimi":  # 12.5 Hz at 24 kHz and 32 quantizers like kyutai/mimi, 8-bit codebooks
        config = transformers.MimiConfig(
            hidden_size=64, num_filters=8, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=2, intermediate_size=128, head_dim=32, upsample_groups=64,
            num_quantizers=32, codebook_size=256, codebook_dim=64,
            vector_quantization_hidden_dimension=64)
        return transformers.MimiModel(config)
    raise ValueError(kind)


#: SNAC's own format: config.json holds the constructor arguments, pytorch_model.bin the state dict
SNAC_CONFIG = dict(sampling_rate=24000, encoder_dim=16, encoder_rates=[2, 4, 8, 8], decoder_dim=64,
                   decoder_rates=[8, 8, 4, 2], attn_window_size=8, codebook_size=256,
                   vq_strides=[4, 2, 1], depthwise=False)  # grouped convs are slow on CPU


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """{kind: directory} with config.json and weights for every family."""
    dirs = {}
    for kind in ("encodec", "dac", "mimi"):
        d = str(tmp_path_factory.mktemp(kind))
        _small_hf_model(kind).save_pretrained(d)
        dirs[kind] = d
    d = str(tmp_path_factory.mktemp("snac"))
    torch.manual_seed(0)
    model = snac.SNAC(**SNAC_CONFIG)
    with open(os.path.join(d, "config.json"), "w") as fh:
        json.dump(SNAC_CONFIG, fh)
    torch.save(model.state_dict(), os.path.join(d, "pytorch_model.bin"))
    dirs["snac"] = d
    return dirs


SPECS = {  # the presets a user runs, pointed at the small models
    "encodec": "encodec-24k-6k", "dac": "dac-16k", "mimi": "mimi-32q", "snac": "snac-24k",
}
_CODECS: dict[str, object] = {}


def codec_for(weights, kind: str, preset: str | None = None, extra: str = ""):
    spec = f"{preset or SPECS[kind]}:weights={weights[kind]}{extra}"
    if spec not in _CODECS:
        codec = build_codec(spec)
        codec.load()
        _CODECS[spec] = codec
    return _CODECS[spec]


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache, so a real cache on this machine cannot leak into a test."""
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return hub


# -- the contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda c: c.__name__)
def test_conformance(weights, kind, check):
    check(codec_for(weights, kind))


def _library_hf(kind, directory):
    model = transformers.AutoModel.from_pretrained(directory, local_files_only=True).eval()
    sr = model.config.sampling_rate
    if kind == "dac":
        fe = transformers.DacFeatureExtractor(sampling_rate=sr, hop_length=model.config.hop_length)
    else:
        fe = transformers.EncodecFeatureExtractor(feature_size=1, sampling_rate=sr)
    return model, fe


@pytest.mark.parametrize("kind", ["encodec", "dac", "mimi"])
def test_tokens_and_audio_equal_the_library(weights, kind):
    codec = codec_for(weights, kind)
    model, fe = _library_hf(kind, weights[kind])
    wave = probe_signal(codec.sample_rate, 1.37, seed=4)  # not a whole number of frames
    inputs = fe(raw_audio=wave, sampling_rate=codec.sample_rate, return_tensors="pt")
    x = inputs["input_values"]
    with torch.inference_mode():
        if kind == "encodec":
            enc = model.encode(x, inputs["padding_mask"], bandwidth=4.8)
            codes = enc.audio_codes[0]
            audio = model.decode(enc.audio_codes, enc.audio_scales).audio_values[0, 0]
        elif kind == "dac":
            codes = model.encode(x).audio_codes
            audio = model.decode(audio_codes=codes).audio_values[0]
        else:
            codes = model.encode(x, inputs["padding_mask"], num_quantizers=32).audio_codes
            audio = model.decode(codes).audio_values[0, 0]
    tokens = codec.encode(wave).tokens
    assert tokens.dtype == np.int64
    variety = sum(len(np.unique(row)) for row in tokens)
    assert variety > 2 * len(tokens), "constant codes would make the comparison empty"
    np.testing.assert_array_equal(tokens, codes[0].numpy())
    np.testing.assert_array_equal(codec.decode(tokens), audio.numpy())


def test_snac_tokens_interleave_the_scales(weights):
    codec = codec_for(weights, "snac")
    model = snac.SNAC.from_pretrained(weights["snac"]).eval()
    frame = 512 * 4  # hop x coarsest stride: one token frame
    assert codec.vocab_sizes == (256,) * 7 and codec.frame_rate == 24000 / frame
    for n in (frame * 8, frame * 8 + 700):  # a whole number of padded blocks, and not
        wave = probe_signal(24000, n / 24000, seed=5)
        with torch.inference_mode():
            coarse, mid, fine = (c[0].numpy() for c in model.encode(torch.from_numpy(wave)[None, None]))
        tokens = codec.encode(wave).tokens
        t = math.ceil(n / frame)
        assert tokens.shape == (7, t)
        np.testing.assert_array_equal(tokens[0], coarse[:t])
        for j in range(2):
            np.testing.assert_array_equal(tokens[1 + j], mid[j : 2 * t : 2])
        for j in range(4):
            np.testing.assert_array_equal(tokens[3 + j], fine[j : 4 * t : 4])
    # 9 frames: the decoder's attention needs an even count, so the adapter pads and cuts back
    out = codec.decode(tokens)
    assert out.shape == (9 * frame,) and out.dtype == np.float32 and np.isfinite(out).all()
    # whole blocks: decoding is the library's decode with the same noise draw
    wave = probe_signal(24000, frame * 8 / 24000, seed=6)
    tokens = codec.encode(wave).tokens
    with torch.inference_mode():
        codes = model.encode(torch.from_numpy(wave)[None, None])
        torch.manual_seed(codec.config.noise_seed)
        audio = model.decode(codes)[0, 0].numpy()
    np.testing.assert_array_equal(codec.decode(tokens), audio)
    # the token-derived bitrate is SNAC's real one: sum over scales of codes/s x 8 bits
    real = sum(24000 / 512 / s * 8 for s in (4, 2, 1))
    assert math.isclose(codec.nominal_bitrate, real)


# -- quantizers set the measured bitrate ----------------------------------------------------------
@pytest.mark.parametrize("kind, specs, quantizers, frame_rate, bits", [
    ("encodec", ["encodec-24k-1.5k", "encodec-24k-3k", "encodec-24k-6k"], [2, 4, 8], 75.0, 8),
    ("dac", ["dac-16k:num_quantizers=1", "dac-16k:num_quantizers=2", "dac-16k"], [1, 2, 4], 50.0, 8),
    ("mimi", ["mimi-8q", "mimi-32q"], [8, 32], 12.5, 8),
])
def test_quantizers_set_the_measured_bitrate(weights, kind, specs, quantizers, frame_rate, bits):
    tokens = []
    for spec, k in zip(specs, quantizers):
        preset, _, opts = spec.partition(":")
        codec = codec_for(weights, kind, preset, f",{opts}" if opts else "")
        wave = probe_signal(codec.sample_rate, 1.6, seed=1)  # a whole number of frames for all
        enc = codec.encode(wave).tokens
        assert enc.shape[0] == k
        measured = token_bitrate(codec, enc, 1.6)
        assert math.isclose(codec.nominal_bitrate, k * frame_rate * bits)
        assert math.isclose(measured, k * frame_rate * bits, rel_tol=0.05), (spec, measured)
        tokens.append(enc)
    for small, big in zip(tokens, tokens[1:]):  # residual VQ: fewer levels are a prefix
        np.testing.assert_array_equal(small, big[: small.shape[0]])


def test_encodec_rejects_a_quantizer_count_the_model_lacks(weights):
    codec = build_codec(f"encodec-24k-12k:weights={weights['encodec']}")  # 16 quantizers
    with pytest.raises(CodecError, match=r"num_quantizers=16, but .* runs with \[2, 4, 8\]"):
        codec.load()


def test_wrong_family_is_named(weights):
    with pytest.raises(CodecError, match="holds a 'dac' model"):
        build_codec(f"mimi-8q:weights={weights['dac']}").load()


# -- where weights come from --------------------------------------------------------------------
def _fake_cache(hub, repo_id, directory):
    snap = hub / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    for name in os.listdir(directory):
        shutil.copy(os.path.join(directory, name), snap / name)
    (hub / f"models--{repo_id.replace('/', '--')}" / "refs").mkdir()
    (hub / f"models--{repo_id.replace('/', '--')}" / "refs" / "main").write_text("0123abcd")


def test_hub_cache_is_used_and_hash_follows_content(weights, empty_hub, capsys):
    assert main(["list", "codecs"]) == 0
    assert "mimi-8q" in capsys.readouterr().out
    _fake_cache(empty_hub, "kyutai/mimi", weights["mimi"])
    assert main(["list", "codecs", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["codecs"]}
    assert rows["mimi-8q"]["unavailable"] is None
    assert rows["encodec-24k-6k"]["unavailable"] == "weights not found"
    from_cache = build_codec("mimi-8q")
    from_dir = build_codec(f"mimi-8q:weights={weights['mimi']}")
    assert from_cache.weights_hash() == from_dir.weights_hash()
    assert from_cache.config_hash == from_dir.config_hash  # the path is not part of the identity
    assert len(from_cache.weights_hash()) == 64
    np.testing.assert_array_equal(from_cache.encode(probe_signal(24000, 1.0)).tokens,
                                  from_dir.encode(probe_signal(24000, 1.0)).tokens)
    assert from_cache.describe()["weights_dir"].startswith(str(empty_hub))
    weight_file = next(empty_hub.glob("models--kyutai--mimi/snapshots/*/model.safetensors"))
    with open(weight_file, "ab") as fh:
        fh.write(b"\0")
    assert build_codec("mimi-8q").config_hash != from_dir.config_hash


def test_missing_weights_error_and_listing(empty_hub, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    with pytest.raises(WeightsNotFound) as info:
        build_codec(f"encodec-24k-6k:weights={missing}").load()
    text = str(info.value)
    assert "\n" not in text
    for part in ("config.json", "model.safetensors", str(missing),
                 f"hf download facebook/encodec_24khz --local-dir {missing}"):
        assert part in text
    with pytest.raises(WeightsNotFound, match="hf download kyutai/mimi"):
        build_codec("mimi-8q").config_hash  # the cache is empty; hashing is the first use
    with pytest.raises(WeightsNotFound, match="hubertsiuzdak/snac_24khz.*pytorch_model.bin|pytorch_model.bin.*hubertsiuzdak/snac_24khz"):
        build_codec("snac-24k").load()
    # the CLI: one line, exit 2; the listing marks the presets and keeps working
    assert main(["run", "--codec", "dac-16k", "--out", str(tmp_path / "out"), "--limit", "1",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hf download descript/dac_16khz" in err[0]
    assert main(["list", "codecs"]) == 0
    listing = capsys.readouterr().out
    for preset in ("encodec-24k-1.5k", "dac-24k", "mimi-32q", "snac-24k"):
        line = next(ln for ln in listing.splitlines() if ln.split()[0] == preset)
        assert line.endswith("(unavailable: weights not found)")
    assert "unavailable" not in next(ln for ln in listing.splitlines() if ln.split()[0] == "mulaw")


def test_adapter_modules_import_no_torch():
    code = ("import sys; from bench.codecs.hf import HFCodec; from bench.codecs.snac_codec import SNACCodec; "
            "HFCodec.unavailable_reason({'repo_id': 'kyutai/mimi'}); SNACCodec.unavailable_reason({}); "
            "heavy = [m for m in ('torch', 'transformers', 'snac') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)


def test_pickled_codec_reloads_in_a_worker(weights):
    codec = codec_for(weights, "dac")
    clone = pickle.loads(pickle.dumps(codec))
    assert clone._model is None
    wave = probe_signal(16000, 0.5)
    np.testing.assert_array_equal(clone.encode(wave).tokens, codec.encode(wave).tokens)
