"""`switchyard bench --html`: the report is drawn by a real browser.

A standalone `switchyard sim` is the target; `switchyard bench` sends it two seconds
of load for two models and writes the HTML and JSON reports. Headless Chromium then
opens the HTML from file:// three times: a screenshot, a DOM dump, and a DOM dump
of a copy with a small probe script that records where each chart's plot area was
laid out. Pillow checks the screenshot has the series colours inside those areas,
so a chart that is present in the markup but draws nothing fails.

Chromium comes from Debian's `chromium` package (scripts/test installs it). Without
it the test is skipped, unless SWITCHYARD_REQUIRE_BROWSER is set (scripts/test sets
it), in which case it fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image, ImageChops

from support import Gateway, child_env, gateway_bin

TIMEOUT_S = 60.0
WINDOW = (1400, 4000)
MODELS = ("deepseek-v4-flash", "deepseek-v3.2")
# SERIES_COLOURS in crates/bench/src/html.rs: group i is drawn in colour i.
SERIES_COLOURS = ("#1f77b4", "#e8710a")
# The charts every streamed run has (data-chart ids); a sweep adds two more.
CHARTS = ("latency-over-time", "throughput-over-time", "ttft-histogram", "itl-histogram")
COLOUR_TOLERANCE = 30  # per RGB channel, for anti-aliased edges
MIN_PIXELS = 300  # a 2.5-unit line across a plot is well over a thousand pixels

# Appended to a copy of the report: records each chart's plot area, in page pixels,
# on <body>, where --dump-dom shows it. The report itself has no script.
PROBE = """<script>
document.body.setAttribute("data-chart-boxes", JSON.stringify(Array.from(
  document.querySelectorAll("svg[data-chart]"), svg => {
    const r = svg.querySelector(".plot-area").getBoundingClientRect();
    return {id: svg.dataset.chart, x: r.x + scrollX, y: r.y + scrollY, w: r.width, h: r.height};
  })));
</script>"""


def chromium_binary() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture
def chromium() -> str:
    path = chromium_binary()
    if path is None:
        if os.environ.get("SWITCHYARD_REQUIRE_BROWSER"):
            pytest.fail(
                "SWITCHYARD_REQUIRE_BROWSER is set but chromium is not installed "
                "(neither /usr/bin/chromium nor `chromium` on PATH); scripts/test installs "
                "Debian's chromium package",
                pytrace=False,
            )
        pytest.skip("headless Chromium is not installed (apt-get install chromium); "
                    "set SWITCHYARD_REQUIRE_BROWSER=1 to make this a failure")
    return path


@pytest.fixture
def sim() -> Iterator[Gateway]:
    argv = [str(gateway_bin()), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0.01"]
    proc = Gateway(argv, env=child_env())
    try:
        yield proc.wait_listening()
    finally:
        proc.stop()


def run_bounded(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run argv in its own process group, killing the whole group after TIMEOUT_S
    (Chromium starts helpers that would outlive a plain kill)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            env=child_env(), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{what} did not finish within {TIMEOUT_S:.0f}s\ncommand: {' '.join(argv)}\n"
                    f"--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}", pytrace=False)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def browser(chromium: str, profile: Path, page: Path, *action: str) -> subprocess.CompletedProcess[str]:
    argv = [
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", "--force-device-scale-factor=1",
        *action, page.resolve().as_uri(),
    ]
    out = run_bounded(argv, f"chromium {' '.join(action)}")
    assert out.returncode == 0, f"chromium {action} exited {out.returncode}:\n{out.stderr[-3000:]}"
    return out


def svg_elements(dom: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", dom, flags=re.S)


def draws_data(svg: str) -> bool:
    """A <path> with at least two points, or a <polyline>."""
    paths = re.findall(r'<path\b[^>]*\bd="([^"]*)"', svg)
    return any(len(re.findall(r"-?\d+(?:\.\d+)?,-?\d+(?:\.\d+)?", d)) >= 2 for d in paths) or (
        re.search(r'<polyline\b[^>]*\bpoints="[^"]*\d', svg) is not None
    )


def colour_pixels(img: Image.Image, colour: str) -> int:
    """Pixels within COLOUR_TOLERANCE of colour (#rrggbb) on every channel."""
    target = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    masks = [
        band.point(lambda v, t=t: 255 if abs(v - t) <= COLOUR_TOLERANCE else 0)
        for band, t in zip(img.split(), target)
    ]
    both = ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2])
    return both.histogram()[255]


def render_and_check(chromium: str, page: Path, work: Path, models: tuple[str, ...]) -> Path:
    """Screenshot `page` and check its charts were drawn; return the PNG's path."""
    png = work / "bench-report.png"
    browser(chromium, work / "profile-shot", page, f"--screenshot={png}")
    assert png.is_file(), f"chromium wrote no screenshot at {png}"
    print(f"bench report screenshot: {png}")

    dom = browser(chromium, work / "profile-dom", page, "--dump-dom").stdout
    svgs = svg_elements(dom)
    drawn = [s for s in svgs if draws_data(s)]
    assert len(svgs) >= 4 and len(drawn) >= 4, (
        f"{len(svgs)} <svg> elements, {len(drawn)} with path data; expected at least 4 of each"
    )
    for heading in ("Latency percentiles over time", "TTFT distribution", "ITL distribution",
                    "Definitions"):
        assert heading in dom, f"report lacks the {heading!r} section"
    for name in models:
        assert html.escape(name) in dom, f"model {name} missing from the report"
    assert "NaN" not in dom, "the report contains NaN"

    probe = work / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>", 1),
                     encoding="utf-8")
    probed = browser(chromium, work / "profile-probe", probe, "--dump-dom").stdout
    m = re.search(r'data-chart-boxes="([^"]*)"', probed)
    assert m, "the probe script recorded no chart boxes"
    boxes = {b["id"]: b for b in json.loads(html.unescape(m.group(1)))}

    img = Image.open(png).convert("RGB")
    assert img.size == WINDOW, f"screenshot is {img.size}, expected {WINDOW}"
    colours = SERIES_COLOURS[: len(models)]
    per_colour = dict.fromkeys(colours, 0)
    for chart in CHARTS:
        b = boxes.get(chart)
        assert b, f"chart {chart} not found; charts laid out: {sorted(boxes)}"
        left, top, right, bottom = (round(b["x"]), round(b["y"]), round(b["x"] + b["w"]),
                                    round(b["y"] + b["h"]))
        assert b["w"] > 200 and b["h"] > 100, f"chart {chart} is laid out too small: {b}"
        assert 0 <= left < right <= WINDOW[0] and 0 <= top < bottom <= WINDOW[1], (
            f"chart {chart} at {b} is outside the {WINDOW} screenshot"
        )
        area = img.crop((left, top, right, bottom))
        counts = {c: colour_pixels(area, c) for c in colours}
        print(f"  {chart}: series pixels {counts}")
        # Series may cover each other (equal throughput lines), so per chart any
        # series colour counts; every group's colour must show somewhere.
        assert sum(counts.values()) > MIN_PIXELS, (
            f"chart {chart} shows {counts} pixels of the series colours; expected over "
            f"{MIN_PIXELS} (screenshot: {png})"
        )
        for c, n in counts.items():
            per_colour[c] += n
    for c, n in per_colour.items():
        assert n > MIN_PIXELS, f"series colour {c} shows in only {n} pixels of the charts ({png})"
    return png


def test_bench_html_report_renders_its_charts_in_a_browser(chromium, sim, tmp_path):
    out_html, out_json = tmp_path / "bench.html", tmp_path / "bench.json"
    argv = [
        str(gateway_bin()), "bench",
        "--target", f"{sim.root_url}/deepseek/global",
        "--model", ",".join(MODELS),
        "--rate", "40", "--duration", "2s", "--output-tokens", "16",
        "--html", str(out_html), "--json", str(out_json), "--quiet",
    ]
    run = run_bounded(argv, "switchyard bench")
    assert run.returncode == 0, (
        f"switchyard bench exited {run.returncode}\n--- stdout ---\n{run.stdout[-3000:]}\n"
        f"--- stderr ---\n{run.stderr[-3000:]}"
    )
    for name in MODELS:
        assert name in run.stdout, f"summary table on stdout lacks {name}:\n{run.stdout}"
    assert out_html.is_file() and out_json.is_file(), "bench did not write --html and --json"

    report = json.loads(out_json.read_text(encoding="utf-8"))
    groups = report["groups"]
    assert [g["name"] for g in groups] == list(MODELS), [g["name"] for g in groups]
    for g in groups:
        assert g["ok"] > 0, f"{g['name']}: no request succeeded; errors {g['errors_by_kind']}"
        assert g["timeline"], f"{g['name']}: empty timeline"
    assert report["meta"]["stream"] is True, "bench streams by default; TTFT and ITL need it"
    for g in groups:
        assert g["ttft_histogram"] and g["itl_histogram"], f"{g['name']}: no TTFT or ITL histogram"

    # The simulator reports no cost, so there is no cost section (test_bench_cost.py
    # covers a run against Switchyard, which has one).
    assert all(g["cost"] is None for g in groups), "the simulator reported a cost"
    page = out_html.read_text(encoding="utf-8")
    assert "<h2>Cost</h2>" not in page and "cost-per-month" not in page, "a cost section without costs"
    render_and_check(chromium, out_html, tmp_path, MODELS)
