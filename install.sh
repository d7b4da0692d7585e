#!/usr/bin/env bash
# Installs bench and everything its built-in codecs and tasks use, into the active Python.
#   ./install.sh            core + all extras (torch CPU pinned, ASR, speaker, probes, pretrained)
#   ./install.sh --test     the same, plus the test tools
#   ./install.sh --core     only the light core (reconstruction task, identity/mu-law codecs)
# Debian/Ubuntu system packages (espeak-ng to rebuild the corpus, libopus0; with --test also
# chromium and chromium-driver for the report's browser test) are installed
# when running as root with apt-get available, and the script says so first; otherwise it says
# what is missing.
set -euo pipefail
cd "$(dirname "$0")"

extras="all"
case "${1:-}" in
  --test) extras="all,test" ;;
  --core) extras="" ;;
  "") ;;
  *) echo "usage: ./install.sh [--test|--core]" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3}
pip() { "$PY" -m pip "$@"; }

# torch is pinned through constraints.txt: a newer torch would pull gigabytes of CUDA.
if [ -n "$extras" ]; then
  pip install --quiet -c constraints.txt -e ".[${extras}]"
  # resemblyzer's own requirement (webrtcvad 2.0.10) no longer imports; webrtcvad-wheels,
  # pulled in by the speaker extra, provides the same module.
  pip install --quiet --no-deps "resemblyzer==0.1.4"
  # openai-whisper (the asr task's backend=openai-whisper) requires triton, GPU-only and large;
  # what it does use (torch, numba, tqdm, more-itertools, tiktoken) comes with the extras.
  pip install --quiet --no-deps "openai-whisper==20250625"
else
  pip install --quiet -c constraints.txt -e .
fi

if "$PY" -c 'import importlib.util,sys; sys.exit(0 if importlib.util.find_spec("torchaudio") else 1)'; then
  echo "error: torchaudio is installed; its builds here are broken and break transformers: pip uninstall torchaudio" >&2
  exit 1
fi

# System libraries: libopus0 for the opus codec (opuslib loads it), espeak-ng to rebuild the
# corpus, chromium for the browser test. Installed when possible; otherwise the codec or test
# that needs one says so.
if [ -n "$extras" ]; then
  missing=()
  command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
  ldconfig -p 2>/dev/null | grep -q 'libopus\.so\.0' || missing+=(libopus0)
  # --test: headless Chromium and its driver for the report's browser test (tests/test_report.py)
  if [ "$extras" = "all,test" ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "install.sh: installing Debian packages with apt-get (running as root): ${missing[*]}" >&2
      (apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; }) \
        || echo "note: could not install ${missing[*]} (opus codec / corpus rebuild / browser test will say so)" >&2
    else
      echo "note: system packages missing: ${missing[*]} (apt-get install ${missing[*]})" >&2
    fi
  fi
fi
echo "bench installed: $("$PY" -m bench --version)"
