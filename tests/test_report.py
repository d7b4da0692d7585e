"""bench report and the HTML leaderboard: built over a tiny real run, then loaded in headless
Chromium (console errors, decodable audio, sorting, escaping) where a browser is installed."""

from __future__ import annotations

import copy
import glob
import json
import math
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="bench report needs matplotlib: pip install 'bench[report]'")

XSS = "<script>alert(1)</script>"
CODECS = ("identity", "mulaw-4bit", "mp3-16k")


def _corpus(root: str) -> str:
    """Three short harmonic clips; one item is named like a script tag."""
    import soundfile as sf

    os.makedirs(os.path.join(root, "corpus"), exist_ok=True)
    rows = []
    for k, (item_id, f0) in enumerate([("a-low", 110.0), (XSS, 180.0), ("c-high", 260.0)]):
        t = np.arange(int(1.2 * 16000)) / 16000.0
        f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))
        phase = 2 * np.pi * np.cumsum(f) / 16000.0
        wave = sum(np.sin(h * phase) / h for h in range(1, 8)) * 0.2 * np.hanning(len(t)) ** 0.3
        wave += 0.003 * np.random.default_rng(k).standard_normal(len(t))
        sf.write(os.path.join(root, "corpus", f"c{k}.wav"), wave.astype(np.float32), 16000, subtype="PCM_16")
        rows.append({"path": f"c{k}.wav", "id": item_id, "speaker": f"s{k}"})
    with open(os.path.join(root, "corpus", "manifest.jsonl"), "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return "manifest:path=corpus/manifest.jsonl"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A real run of three cheap codecs over three items, and the report over its records.
    The run and the report share the working folder (records keep relative dataset paths)."""
    from bench.report import build_report
    from bench.runner import RunOptions, run

    root = str(tmp_path_factory.mktemp("report"))
    old = os.getcwd()
    os.chdir(root)
    try:
        spec = _corpus(root)
        for codec in CODECS:
            run(RunOptions(codec=codec, dataset=spec, tasks=("reconstruction",), out="run", progress=False,
                           isolate=False))
        summary = build_report(["run/results"], "site", n_samples=3, seed=0)
    finally:
        os.chdir(old)
    return root, summary


def _pages(site: str) -> list[str]:
    return [os.path.join(site, "index.html"), os.path.join(site, "plots.html")] + sorted(
        glob.glob(os.path.join(site, "codecs", "*.html")))


@pytest.mark.slow  # the shared fixture makes a real run and a report
def test_site_layout_escaping_and_audio_files(built):
    root, summary = built
    site = os.path.join(root, "site")
    assert summary.n_codecs == 3 and summary.n_records == 3
    assert summary.n_plots > 0 and not summary.problems
    assert summary.n_clips == 9  # 3 items (all sampled; worst ones among them) x 3 codecs
    pages = _pages(site)
    assert len(pages) == 5
    for p in pages:
        text = open(p, encoding="utf-8").read()
        assert XSS not in text  # never raw markup
        assert "http://" not in text and "https://" not in text  # nothing fetched from a network
        for src in __import__("re").findall(r'(?:src|href)="([^"#]+)"', text):
            assert os.path.exists(os.path.normpath(os.path.join(os.path.dirname(p), src))), (p, src)
    codec_page = open(glob.glob(os.path.join(site, "codecs", "mulaw-4bit*.html"))[0], encoding="utf-8").read()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in codec_page
    assert "worst pesq_wb" in codec_page and "sample (seed 0)" in codec_page
    import soundfile as sf

    wavs = glob.glob(os.path.join(site, "audio", "**", "*.wav"), recursive=True)
    assert len(wavs) == 3 + 9  # originals once, a reconstruction per codec and item
    info = sf.info(wavs[0])
    assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.frames > 16000
    # the identity codec's reconstruction is the reference itself
    ident = [w for w in wavs if "identity" in w]
    orig = [w for w in wavs if w.endswith(".orig.wav")]
    a = sf.read(sorted(ident)[0])[0]
    b = sf.read([o for o in orig if os.path.basename(o)[:-9] == os.path.basename(sorted(ident)[0])[:-4]][0])[0]
    assert np.array_equal(a, b)


def test_items_are_chosen_reproducibly():
    from bench.report.listen import sample_ids

    ids = [f"i{k:03d}" for k in range(100)]
    first = sample_ids(ids, 3, seed=0)
    assert first == sample_ids(ids, 3, seed=0) and len(set(first)) == 3 and first == sorted(first)
    assert sample_ids(ids, 3, seed=1) != first
    assert sample_ids(ids[:2], 3, seed=0) == ids[:2]


@pytest.mark.slow  # the shared fixture makes a real run and a report
def test_unknown_task_and_probe_references_render(built, tmp_path):
    """A record of a task this code has never seen renders as a table; a metric with no
    direction becomes the chance line of the scores that share its prefix."""
    from bench.report import build_report
    from bench.report.site import probe_pairs

    root, _ = built
    rec = json.load(open(sorted(glob.glob(os.path.join(root, "run", "results", "*.json")))[0]))
    odd = copy.deepcopy(rec)
    odd["task"] = {"name": "mystery", "version": "7", "key": "mystery@7#0000", "config": {}}
    mv = {"ci_low": 0.4, "ci_high": 0.6, "n": 3, "n_failed": 0, "unit": "", "failures": {}}
    odd["metrics"] = {"thing_acc": {**mv, "value": 0.5, "higher_is_better": True},
                      "thing_chance": {**mv, "value": 0.25, "higher_is_better": None},
                      "odd": {**mv, "value": None, "ci_low": None, "ci_high": None, "higher_is_better": False}}
    odd.pop("items", None)
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(odd))
    assert probe_pairs([odd]) == [("thing_chance", ["thing_acc"])]
    s = build_report([str(path)], str(tmp_path / "site"), audio=False)
    index = (tmp_path / "site" / "index.html").read_text()
    assert "mystery" in index and "thing_acc" in index and 'id="probes"' in index
    assert any("probe-mystery-thing_chance" in f for f in os.listdir(tmp_path / "site" / "plots"))
    assert s.n_codecs == 1


@pytest.mark.slow  # the shared fixture makes a real run and a report
def test_leaderboard_html_is_a_styled_page(built):
    from bench.leaderboard import leaderboard
    from bench.results import find_records

    root, _ = built
    text = leaderboard(find_records([os.path.join(root, "run", "results")]), fmt="html")
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text and 'class="bench"' in text
    assert text.count("<table") == 1 and "th class=\"sortable" in text and "higher is better" in text
    assert "<html" in text and text.rstrip().endswith("</html>")


# -- in a real browser ------------------------------------------------------------------------
def _browser_paths() -> tuple[str, str]:
    chrome = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                               shutil.which("google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if not chrome or not driver:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(./install.sh --test does, as root)")
    return chrome, driver


@pytest.fixture(scope="module")
def browser():
    chrome, driver_path = _browser_paths()
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install 'bench[test]'")
    from selenium.webdriver.chrome.service import Service

    old_offline = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(30)
    drv.set_script_timeout(20)
    yield drv
    drv.quit()
    if old_offline is None:
        os.environ.pop("SE_OFFLINE", None)
    else:
        os.environ["SE_OFFLINE"] = old_offline


AUDIO_JS = """
const done = arguments[arguments.length - 1];
const els = Array.from(document.querySelectorAll('audio'));
Promise.all(els.map(a => new Promise(res => {
  const report = () => res({src: a.currentSrc || a.src, error: a.error ? a.error.code : null,
                            duration: a.duration});
  if (a.readyState >= 1 || a.error) { report(); return; }
  a.addEventListener('loadedmetadata', report, {once: true});
  a.addEventListener('error', report, {once: true});
  a.load();
}))).then(done);
"""


def _severe(drv) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def _alert_open(drv) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        drv.switch_to.alert
        return True
    except NoAlertPresentException:
        return False


@pytest.mark.slow
def test_every_page_in_a_browser(built, browser, tmp_path):
    from selenium.webdriver.common.by import By

    root, _ = built
    site = os.path.join(root, "site")
    n_audio = 0
    for p in _pages(site):
        browser.get("file://" + p)
        assert not _alert_open(browser), p
        assert _severe(browser) == [], p
        results = browser.execute_async_script(AUDIO_JS)
        for r in results:
            assert r["error"] is None and r["duration"] > 0, (p, r)
        n_audio += len(results)
        broken = browser.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert broken == [], (p, broken)  # every plot loads
        if "/codecs/" in p:
            assert len(results) == 6, p  # 3 items x (original, reconstruction)
            ids = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".item-id")]
            assert XSS in ids, p  # shown as text, not run
            assert not browser.find_elements(By.XPATH, "//main//script")  # no injected script element
        assert _severe(browser) == [], p
    assert n_audio == 18
    # a screenshot of the index, as a test artifact
    browser.get("file://" + os.path.join(site, "index.html"))
    shot = tmp_path / "report-index.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("BENCH_ARTIFACTS"):
        os.makedirs(os.environ["BENCH_ARTIFACTS"], exist_ok=True)
        shutil.copy(shot, os.path.join(os.environ["BENCH_ARTIFACTS"], "report-index.png"))


def _column(drv, table_css: str, col: int) -> list[float]:
    vals = drv.execute_script(
        "return Array.from(document.querySelector(arguments[0]).tBodies[0].rows)"
        ".map(r => r.cells[arguments[1]].getAttribute('data-v'));", table_css, col)
    return [math.inf if v in (None, "") else float(v) for v in vals]


def _sort_check(drv, table_css: str, header_text: str) -> None:
    from selenium.webdriver.common.by import By

    heads = drv.find_element(By.CSS_SELECTOR, table_css).find_elements(By.CSS_SELECTOR, "thead th")
    col = next(i for i, h in enumerate(heads) if h.text.startswith(header_text))
    before = _column(drv, table_css, col)
    heads[col].click()
    up = _column(drv, table_css, col)
    assert up == sorted(before), (header_text, before, up)
    assert heads[col].get_attribute("aria-sort") == "ascending"
    heads[col].click()
    down = _column(drv, table_css, col)
    assert down == sorted(before, reverse=True), (header_text, down)
    assert up != down  # the order did change


@pytest.mark.slow
def test_tables_sort_on_header_click(built, browser, tmp_path):
    from bench.leaderboard import leaderboard
    from bench.results import find_records

    root, _ = built
    browser.get("file://" + os.path.join(root, "site", "index.html"))
    _sort_check(browser, "#codecs-table", "kbps")
    _sort_check(browser, "table.bench", "pesq_wb")
    # the leaderboard page of `bench leaderboard --format html` sorts the same way
    page = tmp_path / "leaderboard.html"
    page.write_text(leaderboard(find_records([os.path.join(root, "run", "results")]), fmt="html"), encoding="utf-8")
    browser.get("file://" + str(page))
    assert _severe(browser) == []
    _sort_check(browser, "table.bench", "si_sdr")


def test_worst_items_from_a_records_item_section():
    """Per-item values in a record (its optional ``items`` section) choose the worst item of each
    scored metric: the lowest where higher is better, the highest where lower is better; a
    reference metric (no direction) chooses nothing."""
    from bench.report.listen import worst_items

    mv = lambda better: {"value": 0.5, "higher_is_better": better, "unit": ""}  # noqa: E731
    record = {"task": {"name": "t", "metric_order": ["up", "down", "ref"]}, "run": {"key": "k"},
              "codec": {"config_hash": "k"},
              "metrics": {"up": mv(True), "down": mv(False), "ref": mv(None)},
              "items": {"id": ["a", "b", "c"], "values": {"up": [0.9, None, 0.1], "down": [3.0, 1.0, 2.0],
                                                         "ref": [0.0, 5.0, 0.0]}}}
    got = worst_items(record, stores=[])
    assert [i for i, _ in got] == ["c", "a"]
    assert got[0][1].startswith("worst up (t): 0.1")
    assert worst_items(record, stores=[], allowed={"b"}) == [("b", "worst down (t): 1")]
