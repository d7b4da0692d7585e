#!/usr/bin/env bash
# Regenerates the committed leaderboards in results/ from scratch (about an hour on 2 idle cores).
#   results/make_results.sh [OUT]      OUT defaults to a temporary folder
# Records of every run are copied to results/records/; tables are built from them only.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(mktemp -d)}
J=${JOBS:-2}

BASELINES="identity mulaw-12bit mulaw-10bit mulaw-8bit mulaw-6bit mulaw-5bit mulaw-4bit mulaw-3bit mulaw-2bit
  mp3-8k mp3-16k mp3-24k mp3-32k mp3-64k opus-6k opus-8k opus-12k opus-16k opus-24k
  codec2-700 codec2-1200 codec2-1600 codec2-2400 codec2-3200
  dct-q2 dct-q3 dct-q4 dct-q6 dct-q8 dct-q4-k16 dct-q4-k32 dct-q4-k64"
# training-free DSP tokenizers (docs/dsp-tokenizers.md): every task but abx
DSP="dmel-80x4 dmel-80x8 dmel-80x16 world-3k world-5.3k world-8.4k"
RVQ="rvq-1q rvq-2q rvq-3q rvq-4q rvq-5q rvq-6q rvq-7q rvq-8q"
ABX="identity mulaw-8bit mulaw-4bit mulaw-2bit mp3-16k opus-8k dct-q4 codec2-1200 rvq-1q rvq-4q rvq-8q"
TOKENS="pcm16 $BASELINES $RVQ"  # every preset (world, in $DSP, takes about 30 CPU-min per preset: Harvest per stability condition)
SUBSET="identity mulaw-8bit mulaw-4bit mulaw-2bit mp3-8k mp3-16k opus-8k opus-16k codec2-1200 codec2-3200
  dct-q4 dct-q4-k32 rvq-1q rvq-4q rvq-8q"

AVAILABLE=$(bench list codecs --json | python3 -c "import json,sys; print(' '.join(e['name'] for e in json.load(sys.stdin)['codecs'] if not e.get('unavailable')))")
available() {  # drop presets that `bench list` marks unavailable (e.g. no RVQ checkpoint)
  for c in "$@"; do case " $AVAILABLE " in *" $c "*) echo "$c" ;; esac; done
}

args() { for c in "$@"; do printf -- '-c %s ' "$c"; done; }

# 1. reconstruction of every preset on the test split (speakers and sentences unseen by rvq)
bench run $(args $(available $BASELINES $RVQ $DSP)) -t reconstruction -d synth-speech-test -j "$J" --out "$OUT" --no-progress
# 2. intelligibility and speaker on the test split, for a representative subset
bench run $(args $(available $SUBSET $DSP)) -t asr -t speaker -d synth-speech-test -j "$J" --out "$OUT" --no-progress
# 3. pitch and accent: preserved, and readable from tokens (classifiers need both splits)
bench run $(args $(available $SUBSET $DSP)) -t pitch -t probe-linear -d synth-speech -j "$J" --out "$OUT" --no-progress
# 4. the "tomato" test: accent and pitch-class ABX on the minimal pairs (about 2 minutes)
bench run $(args $(available $ABX $DSP)) -t abx -d minimal-pairs -j "$J" --out "$OUT" --no-progress
# 5. tokens as an LM sees them: rates, entropy, Kneser-Ney LM cost (train -> test split), stability
bench run $(args $(available $TOKENS $DSP)) -t tokens -d synth-speech -j "$J" --out "$OUT" --no-progress
# 6. what do the tokens keep? learned token probes and their audio ceilings (log-mel, waveform, Whisper) on synth-speech-probe
#    (docs/probes.md; about 2-4 CPU-minutes per codec: one worker, training runs in the main process)
nice -n 5 bench run -c identity -t probe-audio -d synth-speech-probe -j 1 --out "$OUT" --no-progress
nice -n 5 bench run -c identity -t probe-audio:features=wave -d synth-speech-probe -j 1 --out "$OUT" --no-progress  # the waveform front end: pitch ceiling
nice -n 5 bench run -c identity -t probe-audio:features=whisper -d synth-speech-probe -j 1 --out "$OUT" --no-progress  # Whisper tiny.en front end: accent ceiling (asr extra; ~4 CPU-min)
nice -n 5 bench run $(args $(available $ABX dmel-80x16 world-5.3k)) -t probe -d synth-speech-probe -j 1 --out "$OUT" --no-progress

rm -rf results/records && mkdir -p results/records
cp "$OUT"/results/*.json results/records/
for f in md csv latex html; do
  ext=$f; [ "$f" = latex ] && ext=tex
  bench leaderboard results/records --format "$f" --output "results/leaderboard.$ext"
done
python results/abx_doc_table.py  # the results table of docs/abx.md
bench leaderboard results/records --section keep --output results/keep.md  # "What do the tokens keep?"
echo "results in results/leaderboard.md (records from $OUT)"
