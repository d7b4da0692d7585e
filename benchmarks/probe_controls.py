"""The probe controls on the real corpus, with the default recipe (docs/probes.md, "Controls").

    python benchmarks/probe_controls.py [--out DIR] [--reader whisper]

Runs task ``probe`` on synth-speech-probe with two control codecs that are not registered by
default, and the audio ceiling with shuffled training labels:

* ``control-label``: :class:`bench.testing.control.LabelTokens`, which writes each item's accent
  (looked up by the content key of its audio) and its Praat F0 into the tokens: the probe must
  read about 1.0;
* ``control-random``: :class:`bench.testing.control.RandomTokens`, input-blind but for the
  length: chance;
* ``probe-audio:shuffle_labels=true`` on identity, and ``probe:shuffle_labels=true`` on
  mulaw-8bit (whose tokens read F0 best): the trained heads fall to chance (the token
  embeddings' co-occurrence start sees tokens only, never a label).

With ``--reader whisper`` the three token runs use ``probe:reader=whisper`` (the adapter and
the Whisper tiny.en encoder; about 5 CPU-minutes each, most of it encoding) and the ceiling run
is ``probe-audio:features=whisper,shuffle_labels=true``.

About 6 CPU-minutes (``--reader whisper``: about 20). Prints each run's metrics (value, 95% interval).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.codecs import CODECS  # noqa: E402
from bench.datasets import DATASETS  # noqa: E402
from bench.runner import RunOptions, run  # noqa: E402
from bench.testing.control import wave_key  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    ap.add_argument("--reader", choices=("scratch", "whisper"), default="scratch",
                    help="who hears the tokens (probe's reader option; default scratch)")
    args = ap.parse_args()
    opt = "" if args.reader == "scratch" else "reader=whisper"
    probe = "probe" + (f":{opt}" if opt else "")
    ceiling = "probe-audio:" + ("features=whisper," if opt else "") + "shuffle_labels=true"
    out = args.out or tempfile.mkdtemp(prefix="probe-controls-")
    items = DATASETS.build("synth-speech-probe").items()
    accents = sorted({it.attrs["accent"] for it in items})
    speakers = sorted({it.speaker for it in items})
    labels = {wave_key(it.load().wave): {"accent": accents.index(it.attrs["accent"]),
                                         "speaker": speakers.index(it.speaker)} for it in items}
    path = os.path.join(out, "control_labels.json")
    os.makedirs(out, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(labels, fh)
    CODECS.register("control-label", "bench.testing.control:LabelTokens", defaults={"labels_path": path}, overwrite=True)
    CODECS.register("control-random", "bench.testing.control:RandomTokens", overwrite=True)
    for codec, task in (("control-label", probe), ("control-random", probe), ("identity", ceiling),
                        ("mulaw-8bit", f"probe:{opt + ',' if opt else ''}shuffle_labels=true")):
        rep = run(RunOptions(codec=codec, dataset="synth-speech-probe", tasks=(task,), out=out, progress=False))
        for r in rep.records:
            print(codec, task, json.dumps({k: [round(v["value"], 3) if v["value"] is not None else None,
                                               v.get("ci_low"), v.get("ci_high")]
                                           for k, v in r["metrics"].items() if not k.endswith("_chance")}), flush=True)


if __name__ == "__main__":
    main()
