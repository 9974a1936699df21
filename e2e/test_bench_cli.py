"""`switchyard bench` as a CI user runs it: outputs, thresholds, exit codes, bad input."""

from __future__ import annotations

import contextlib
import csv
import http.server
import json
import subprocess
import threading

import pytest

from support import Gateway, child_env, gateway_bin


@pytest.fixture(scope="module")
def sim_url():
    proc = Gateway([str(gateway_bin()), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0.01"],
                   env=child_env())
    try:
        yield proc.wait_listening().root_url
    finally:
        proc.stop()


def bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gateway_bin()), "bench", "--quiet", *args], capture_output=True,
                          text=True, env=child_env(), timeout=timeout)


def test_json_and_csv_carry_every_figure_for_each_model(sim_url, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    r = bench("--target", f"{sim_url}/zhipu/cn/api/paas/v4", "--model", "glm-4.5-flash,glm-4.6",
              "--rate", "30", "--requests", "40", "--output-tokens", "8",
              "--json", str(out_json), "--csv", str(out_csv))
    assert r.returncode == 0, r.stderr
    assert "glm-4.5-flash" in r.stdout and "TTFT p99 ms" in r.stdout
    report = json.loads(out_json.read_text())
    assert [g["name"] for g in report["groups"]] == ["glm-4.5-flash", "glm-4.6"]
    for g in report["groups"]:
        assert g["requests"] == 20 and g["ok"] == 20
        assert g["output_tokens"] == 20 * 8 and g["tokens_estimated"] is False
        for figure in ("ttft", "itl_chunk", "tpot", "e2e", "dispatch_delay"):
            assert g[figure]["count"] > 0, figure
            assert g[figure]["p50"] <= g[figure]["p99"] <= g[figure]["max"], figure
        assert g["cost"] is None, "the simulator reports no cost (only Switchyard does)"
    assert "$/1k req" not in r.stdout, "no cost rows without a cost"
    rows = list(csv.DictReader(out_csv.open()))
    assert [row["model"] for row in rows] == ["glm-4.5-flash", "glm-4.6"]
    assert float(rows[0]["ttft_p99"]) > 0
    assert rows[0]["cost_per_month_usd"] == "", "cost columns are empty without a cost"


def test_broken_threshold_exits_3_and_says_which(sim_url):
    r = bench("--target", f"{sim_url}/deepseek/global", "--model", "deepseek-v4-flash",
              "--concurrency", "2", "--requests", "6", "--output-tokens", "4",
              "--fail-on", "p50_ttft>0.001ms,error_rate>50%")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "THRESHOLD BROKEN" in r.stdout and "p50_ttft>0.001ms" in r.stdout
    assert "error_rate" not in r.stdout.split("THRESHOLD BROKEN", 1)[1], "only broken clauses are listed"


def test_thresholds_that_hold_exit_0(sim_url):
    r = bench("--target", f"{sim_url}/deepseek/global", "--model", "deepseek-v4-flash",
              "--concurrency", "2", "--requests", "6", "--output-tokens", "4",
              "--fail-on", "p99_ttft>60s,error_rate>0.1%")
    assert r.returncode == 0, r.stdout + r.stderr


def test_unreachable_target_fails_fast_with_the_reason():
    r = bench("--target", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "5", timeout=15)
    assert r.returncode == 1
    assert "cannot reach http://127.0.0.1:9/v1" in r.stderr and "refused" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["--model", "m", "--rate", "5"], "--target"),
    (["--target", "http://127.0.0.1:9/v1", "--model", "m"], "choose a load"),
    (["--target", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "-3"], "positive"),
    (["--target", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "5", "--input-tokens", "lots"], "token count"),
    (["--target", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "5", "--duration", "5 parsecs"], "duration"),
    (["--target", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "5", "--fail-on", "p99_ttft"], "write e.g."),
    (["--target", "localhost:9", "--model", "m", "--rate", "5"], "http://"),
    (["--target", "http://", "--model", "m", "--rate", "5"], "not a URL"),
    (["--target", "http://127.0.0.1:9/v1", "--model", "m", "--rate", "5", "--concurrency", "3"], "cannot be used"),
])
def test_bad_arguments_get_a_clear_message(args, needle):
    r = bench(*args, timeout=15)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert needle in r.stderr, r.stderr


@contextlib.contextmanager
def fake_api(body: bytes, content_type: str):
    """A plain HTTP server answering every POST with 200 and `body`; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()


def test_garbage_from_the_target_is_counted_not_crashed_on(tmp_path):
    out = tmp_path / "g.json"
    with fake_api(b"<html>not an API</html>", "text/html") as url:
        r = bench("--target", url, "--model", "m", "--concurrency", "2", "--requests", "6",
                  "--no-stream", "--json", str(out))
    assert r.returncode == 0, r.stderr
    g = json.loads(out.read_text())["groups"][0]
    assert g["errors_by_kind"] == {"bad_response": 6}
    assert "every request to 'm' failed" in r.stderr


def test_missing_usage_is_estimated_and_labelled(tmp_path):
    completion = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": " one two six"}}]}
    out = tmp_path / "e.json"
    with fake_api(json.dumps(completion).encode(), "application/json") as url:
        r = bench("--target", url, "--model", "m", "--concurrency", "1", "--requests", "3",
                  "--no-stream", "--json", str(out))
    assert r.returncode == 0, r.stderr
    g = json.loads(out.read_text())["groups"][0]
    assert g["ok"] == 3 and g["output_tokens"] == 9 and g["tokens_estimated"] is True
    assert "(est.)" in r.stdout and "estimates" in r.stderr
