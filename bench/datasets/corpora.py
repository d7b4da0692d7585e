"""Loaders for real speech corpora that users already have on disk (nothing downloads).

- :class:`LibriSpeechDataset`: ``<root>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` plus
  ``<id>.flac`` next to it; ``SPEAKERS.TXT`` (in the root or up to two folders above) gives gender.
- :class:`VCTKDataset`: ``speaker-info.txt`` (accent, region, age, gender), ``txt/<spk>/<id>.txt``
  and audio in ``wav48/<spk>/<id>.wav`` (0.80) or ``wav48_silence_trimmed/<spk>/<id>_mic1.flac``
  (0.92).
- :class:`CommonVoiceDataset`: a TSV (``test.tsv``, ``validated.tsv``...) with ``path``,
  ``sentence``, ``client_id`` and an ``accents`` (or older ``accent``) column; audio in ``clips/``.
- :class:`LhotseDataset`: Lhotse manifests (recordings + supervisions, or cuts), JSONL or
  JSONL.gz; needs ``pip install lhotse``.

Every loader turns its layout into manifest rows and reuses :func:`items_from_rows` (paths
confined to the corpus folder). Problems with one utterance never stop the corpus: a missing,
empty or unreadable file, an unexpected sample rate, a stereo file, an empty transcript, an id
seen twice or a path outside the root becomes an item whose ``error`` says why, and the runner
records it as failed. The record's ``dataset.content_hash`` (hash of the item hashes, which hash
the file bytes) identifies exactly which audio was measured.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import glob
import os
from typing import Any, Iterable

from bench.audio import Audio, AudioError, check_wave
from bench.datasets.base import Dataset, Item
from bench.datasets.manifest import ManifestError, items_from_rows


class CorpusError(ManifestError):
    """A corpus folder or index file that cannot be used at all (the message says why)."""


# --- shared checks -----------------------------------------------------------------------------


def probe_audio(path: str, sample_rate: int = 0, allow_stereo: bool = False) -> str | None:
    """Why the file at ``path`` is unusable (reads the header only), or None when it is fine.

    ``sample_rate`` 0 accepts any rate; otherwise another rate is an error (a corpus documents
    its rate: a file at another rate was converted or damaged). Multi-channel audio is an error
    unless ``allow_stereo`` (the loader then downmixes it).
    """
    import soundfile as sf

    if not os.path.isfile(path):
        return f"audio file missing: {path}"
    if os.path.getsize(path) == 0:
        return f"empty audio file (0 bytes): {path}"
    try:
        info = sf.info(path)
    except Exception as exc:  # LibsndfileError, RuntimeError, TypeError
        return f"unreadable audio file {os.path.basename(path)}: {exc}"
    if info.frames == 0:
        return f"audio file has no samples: {os.path.basename(path)}"
    if sample_rate and int(info.samplerate) != int(sample_rate):
        return (f"sample rate {info.samplerate} Hz, expected {sample_rate} Hz for this corpus "
                f"({os.path.basename(path)}; pass sample_rate=0 to accept any rate)")
    if info.channels > 1 and not allow_stereo:
        return (f"{info.channels} channels, expected mono ({os.path.basename(path)}; "
                "pass allow_stereo=true to downmix)")
    return None


def finish_items(items: list[Item], *, sample_rate: int = 0, allow_stereo: bool = False,
                 check_audio: bool = True, require_text: bool = True) -> list[Item]:
    """Add per-item errors for empty transcripts and unusable audio files."""
    out = []
    for item in items:
        error = item.error
        if error is None and require_text and not (item.text or "").strip():
            error = "empty transcript"
        if error is None and check_audio and item.path is not None:
            error = probe_audio(item.path, sample_rate, allow_stereo)
        out.append(dataclasses.replace(item, error=error) if error != item.error else item)
    return out


def _check_root(root: str, what: str) -> str:
    if not root:
        raise CorpusError(f"the {what} loader needs a folder: --dataset {what.lower()}:root=DIR")
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise CorpusError(f"{what} folder not found: {root}")
    return root


def _gender(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    if text in ("m", "male", "male_masculine", "masculine"):
        return "male"
    if text in ("f", "female", "female_feminine", "feminine"):
        return "female"
    return text or None


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    root: str = ""
    sample_rate: int = 0  # 0: any rate; subclasses default to the corpus's documented rate
    allow_stereo: bool = False
    check_audio: bool = True  # read every file's header while listing (cheap; catches bad files early)


class _CorpusDataset(Dataset):
    corpus = "corpus"

    def _finish(self, rows: list[tuple[int, dict]], root: str, source: str, require_text: bool = True) -> list[Item]:
        items = items_from_rows(rows, root, source)
        return finish_items(items, sample_rate=self.config.sample_rate, allow_stereo=self.config.allow_stereo,
                            check_audio=self.config.check_audio, require_text=require_text)

    def describe(self, items: list[Item] | None = None) -> dict[str, Any]:
        info = super().describe(items)
        info["corpus"] = self.corpus
        items = self.items() if items is None else items
        info["n_item_errors"] = sum(1 for it in items if it.error)
        return info


# --- LibriSpeech -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LibriSpeechConfig(CorpusConfig):
    sample_rate: int = 16000


def _librispeech_speakers(root: str) -> dict[str, dict[str, str]]:
    """SPEAKERS.TXT (``ID | SEX | SUBSET | MINUTES | NAME``) from the root or up to two levels up."""
    folder = root
    for _ in range(3):
        path = os.path.join(folder, "SPEAKERS.TXT")
        if os.path.isfile(path):
            out = {}
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith(";") or "|" not in line:
                        continue
                    parts = [p.strip() for p in line.split("|")]
                    if len(parts) >= 3:
                        out[parts[0]] = {"gender": _gender(parts[1]), "subset": parts[2]}
            return out
        folder = os.path.dirname(folder)
    return {}


class LibriSpeechDataset(_CorpusDataset):
    Config = LibriSpeechConfig
    corpus = "librispeech"
    description = "LibriSpeech-style folders (<spk>/<chapter>/*.trans.txt + .flac): --dataset librispeech:root=DIR"

    def _items(self) -> list[Item]:
        root = _check_root(self.config.root, "LibriSpeech")
        speakers = _librispeech_speakers(root)
        trans = sorted(glob.glob(os.path.join(root, "**", "*.trans.txt"), recursive=True))
        if not trans:
            raise CorpusError(f"no *.trans.txt files under {root}: not a LibriSpeech folder")
        rows: list[tuple[int, dict]] = []
        for tpath in trans:
            folder = os.path.relpath(os.path.dirname(tpath), root)
            source = os.path.relpath(tpath, root)
            with open(tpath, encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    utt, _, text = line.strip().partition(" ")
                    spk, _, rest = utt.partition("-")
                    chapter = rest.partition("-")[0]
                    row: dict[str, Any] = {"id": utt, "text": text.strip(), "speaker": spk,
                                           "chapter": chapter, "corpus": "librispeech", "source": f"{source}:{lineno}"}
                    # An id with "/" or ".." resolves outside the folder: items_from_rows flags it.
                    row["path"] = next((os.path.join(folder, utt + ext) for ext in (".flac", ".wav")
                                        if os.path.isfile(os.path.join(root, folder, utt + ext))),
                                       os.path.join(folder, utt + ".flac"))
                    if spk in speakers:
                        row.update({k: v for k, v in speakers[spk].items() if v})
                    rows.append((lineno, row))
        return self._finish(rows, root, "LibriSpeech")


# --- VCTK --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VCTKConfig(CorpusConfig):
    sample_rate: int = 48000
    mic: str = "mic1"  # VCTK 0.92 ships two microphones per utterance
    require_text: bool = True  # audio without a transcript (p315 in 0.92) is an error item


def read_vctk_speakers(path: str) -> dict[str, dict[str, Any]]:
    """speaker-info.txt: ``ID AGE GENDER ACCENTS REGION...`` (IDs with or without the ``p``)."""
    out: dict[str, dict[str, Any]] = {}
    if not os.path.isfile(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if not parts or parts[0].upper() == "ID" or parts[0].startswith(";"):
                continue
            spk = parts[0] if parts[0][0].isalpha() else "p" + parts[0]
            info: dict[str, Any] = {}
            if len(parts) > 1 and parts[1].isdigit():
                info["age"] = int(parts[1])
            if len(parts) > 2:
                info["gender"] = _gender(parts[2])
            if len(parts) > 3:
                info["accent"] = parts[3]
            if len(parts) > 4:
                info["region"] = " ".join(parts[4:])
            out[spk] = info
    return out


class VCTKDataset(_CorpusDataset):
    Config = VCTKConfig
    corpus = "vctk"
    description = "VCTK (speaker-info.txt accents, txt/ + wav48/ or wav48_silence_trimmed/): --dataset vctk:root=DIR"

    def _audio_for(self, root: str, spk: str, utt: str) -> str | None:
        for rel in (os.path.join("wav48_silence_trimmed", spk, f"{utt}_{self.config.mic}.flac"),
                    os.path.join("wav48", spk, f"{utt}.wav"), os.path.join("wav48", spk, f"{utt}.flac"),
                    os.path.join("wav48", spk, f"{utt}_{self.config.mic}.flac")):
            if os.path.isfile(os.path.join(root, rel)):
                return rel
        return None

    def _items(self) -> list[Item]:
        root = _check_root(self.config.root, "VCTK")
        speakers = read_vctk_speakers(os.path.join(root, "speaker-info.txt"))
        if not speakers and not os.path.isdir(os.path.join(root, "txt")):
            raise CorpusError(f"{root} has neither speaker-info.txt nor txt/: not a VCTK folder")
        rows: list[tuple[int, dict]] = []
        seen: set[str] = set()
        for n, tpath in enumerate(sorted(glob.glob(os.path.join(root, "txt", "*", "*.txt"))), 1):
            spk = os.path.basename(os.path.dirname(tpath))
            utt = os.path.splitext(os.path.basename(tpath))[0]
            with open(tpath, encoding="utf-8", errors="replace") as fh:
                text = fh.read().strip()
            audio = self._audio_for(root, spk, utt)
            row: dict[str, Any] = {"id": utt, "text": text, "speaker": spk, "corpus": "vctk",
                                   "path": audio or os.path.join("wav48", spk, f"{utt}.wav"),
                                   **speakers.get(spk, {})}
            rows.append((n, row))
            seen.add(utt)
        items = self._finish(rows, root, "VCTK", require_text=True)
        # Audio with no transcript (VCTK 0.92 has p315 without text): listed, not silently dropped.
        orphans = []
        patterns = [os.path.join(root, "wav48_silence_trimmed", "*", f"*_{self.config.mic}.flac"),
                    os.path.join(root, "wav48", "*", "*.wav"), os.path.join(root, "wav48", "*", "*.flac")]
        for pattern in patterns:
            for apath in sorted(glob.glob(pattern)):
                utt = os.path.splitext(os.path.basename(apath))[0].removesuffix(f"_{self.config.mic}")
                if utt in seen:
                    continue
                seen.add(utt)
                spk = os.path.basename(os.path.dirname(apath))
                orphans.append((0, {"id": utt, "speaker": spk, "corpus": "vctk",
                                    "path": os.path.relpath(apath, root), **speakers.get(spk, {})}))
        extra = items_from_rows(orphans, root, "VCTK")
        extra = finish_items(extra, sample_rate=self.config.sample_rate, allow_stereo=self.config.allow_stereo,
                             check_audio=self.config.check_audio, require_text=False)
        if self.config.require_text:
            extra = [dataclasses.replace(it, error=it.error or f"no transcript (txt/{it.speaker}/{it.id}.txt)")
                     for it in extra]
        return items + extra


# --- Common Voice ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CommonVoiceConfig(CorpusConfig):
    tsv: str = "test.tsv"  # relative to root: test.tsv, dev.tsv, validated.tsv...
    clips: str = "clips"


class CommonVoiceDataset(_CorpusDataset):
    Config = CommonVoiceConfig
    corpus = "common-voice"
    description = "Mozilla Common Voice (TSV with accents column, clips/): --dataset common-voice:root=DIR,tsv=test.tsv"

    def _items(self) -> list[Item]:
        root = _check_root(self.config.root, "Common Voice")
        tsv = os.path.join(root, self.config.tsv)
        if not os.path.isfile(tsv):
            raise CorpusError(f"Common Voice index not found: {tsv} (choose one with tsv=NAME)")
        rows: list[tuple[int, dict]] = []
        with open(tsv, encoding="utf-8", newline="") as fh:
            # Sentences contain quotes: read fields verbatim.
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            fields = reader.fieldnames or []
            missing = [c for c in ("path", "sentence") if c not in fields]
            if missing:
                raise CorpusError(f"{self.config.tsv}:1: missing column(s) {', '.join(missing)}")
            accent_col = "accents" if "accents" in fields else ("accent" if "accent" in fields else None)
            for row in reader:
                lineno = reader.line_num
                clip = (row.get("path") or "").strip()
                out: dict[str, Any] = {
                    "id": os.path.splitext(clip)[0] if clip else f"line{lineno}",
                    "path": os.path.join(self.config.clips, clip) if clip else None,
                    "text": (row.get("sentence") or "").strip(),
                    "speaker": (row.get("client_id") or "").strip() or None,
                    "corpus": "common-voice", "tsv": self.config.tsv,
                }
                if accent_col and (row.get(accent_col) or "").strip():
                    out["accent"] = row[accent_col].strip()
                for key in ("age", "locale", "variant"):
                    if (row.get(key) or "").strip():
                        out[key] = row[key].strip()
                if _gender(row.get("gender")):
                    out["gender"] = _gender(row.get("gender"))
                rows.append((lineno, out))
        return self._finish(rows, root, self.config.tsv)


# --- Lhotse ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LhotseConfig:
    recordings: str = ""  # recordings manifest (.jsonl or .jsonl.gz)
    supervisions: str = ""  # supervisions manifest, with recordings
    cuts: str = ""  # or a cuts manifest alone
    root: str = ""  # relative audio paths are resolved here (default: the manifest's folder)
    confine: bool = False  # every audio path must lie inside root
    sample_rate: int = 0
    allow_stereo: bool = True  # Lhotse selects channels per supervision
    check_audio: bool = True
    require_text: bool = True


def load_segment(path: str, start: float, duration: float | None, channel: int | None) -> Audio:
    """Read ``duration`` seconds from ``start`` (one channel, or the mean of all)."""
    import soundfile as sf

    try:
        info = sf.info(path)
        first = int(round(start * info.samplerate))
        stop = None if duration is None else first + int(round(duration * info.samplerate))
        data, sr = sf.read(path, start=first, stop=stop, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"unreadable audio file {os.path.basename(path)}: {exc}") from None
    if channel is not None:
        if channel >= data.shape[1]:
            raise AudioError(f"channel {channel} requested, file has {data.shape[1]}")
        wave = data[:, channel]
    else:
        wave = data.mean(axis=1)
    return Audio(check_wave(wave, f"segment {start:.2f}+{duration} s of {os.path.basename(path)}"), int(sr))


class LhotseDataset(Dataset):
    Config = LhotseConfig
    corpus = "lhotse"
    description = ("Lhotse manifests (recordings + supervisions, or cuts; needs lhotse): "
                   "--dataset lhotse:recordings=R.jsonl.gz,supervisions=S.jsonl.gz")

    def _lhotse(self):
        try:
            import lhotse
        except ImportError as exc:
            from bench.codecs.base import MissingDependency

            raise MissingDependency(f"the lhotse loader needs lhotse ({exc}): pip install lhotse") from exc
        return lhotse

    def _pairs(self) -> tuple[str, Iterable[tuple[str, Any, Any, float, float | None, Any]]]:
        """(manifest folder, [(id, recording, supervisions, start, duration, channel)])."""
        lhotse = self._lhotse()
        cfg = self.config
        if cfg.cuts:
            path = os.path.abspath(cfg.cuts)
            if not os.path.isfile(path):
                raise CorpusError(f"Lhotse cuts manifest not found: {path}")
            cuts = lhotse.load_manifest(path)

            def gen():
                for cut in cuts:
                    rec = getattr(cut, "recording", None)
                    channel = cut.channel if isinstance(getattr(cut, "channel", None), int) else None
                    yield cut.id, rec, list(cut.supervisions), cut.start, cut.duration, channel

            return os.path.dirname(path), gen()
        if not (cfg.recordings and cfg.supervisions):
            raise CorpusError("the lhotse loader needs recordings=FILE and supervisions=FILE, or cuts=FILE")
        rpath, spath = os.path.abspath(cfg.recordings), os.path.abspath(cfg.supervisions)
        for p in (rpath, spath):
            if not os.path.isfile(p):
                raise CorpusError(f"Lhotse manifest not found: {p}")
        recordings = {r.id: r for r in lhotse.load_manifest(rpath)}
        sups = lhotse.load_manifest(spath)

        def gen():
            for sup in sups:
                channel = sup.channel if isinstance(sup.channel, int) else None
                yield sup.id, recordings.get(sup.recording_id), [sup], sup.start, sup.duration, channel

        return os.path.dirname(rpath), gen()

    def _items(self) -> list[Item]:
        cfg = self.config
        folder, pairs = self._pairs()
        root = os.path.realpath(os.path.abspath(cfg.root) if cfg.root else folder)
        items = []
        for item_id, rec, sups, start, duration, channel in pairs:
            text = " ".join(s.text.strip() for s in sups if getattr(s, "text", None)) or None
            speaker = next((s.speaker for s in sups if getattr(s, "speaker", None)), None)
            attrs: dict[str, Any] = {"corpus": "lhotse", "start": float(start), "duration": float(duration)}
            for s in sups[:1]:
                if s.language:
                    attrs["language"] = s.language
                if s.gender:
                    attrs["gender"] = _gender(s.gender)
                attrs.update({k: v for k, v in (s.custom or {}).items() if isinstance(v, (str, int, float, bool))})
            error, path = None, None
            if rec is None:
                error = "recording not found in the recordings manifest"
            else:
                attrs["recording_id"] = rec.id
                src = rec.sources[0] if rec.sources else None
                if src is None or src.type != "file":
                    error = f"unsupported Lhotse audio source type {getattr(src, 'type', None)!r} (only 'file')"
                else:
                    path = os.path.realpath(os.path.join(root, src.source))
                    if cfg.confine and os.path.commonpath([path, root]) != root:
                        error, path = f"path {src.source!r} escapes the dataset folder", None
                if error is None and path is not None:
                    error = probe_audio(path, cfg.sample_rate, cfg.allow_stereo) if cfg.check_audio else None
                    if error is None and cfg.check_audio:
                        import soundfile as sf

                        actual = sf.info(path).samplerate
                        if int(actual) != int(rec.sampling_rate):
                            error = f"manifest says {rec.sampling_rate} Hz, the file is {actual} Hz"
            if error is None and cfg.require_text and not (text or "").strip():
                error = "empty transcript"
            whole = rec is not None and abs(start) < 1e-3 and abs(duration - rec.duration) < 0.01 \
                and (channel is None or rec.num_channels == 1)
            gen = None
            if error is None and not whole:
                gen = functools.partial(load_segment, path, float(start), float(duration), channel)
            items.append(Item(id=str(item_id), path=path, text=text,
                              speaker=speaker, attrs=attrs, generator=gen, error=error))
        return items
