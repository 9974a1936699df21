"""The usage log as a user sees it: requests made through the stock openai client —
one completed, one stream the client walked away from — then `switchyard usage` reports
them by model and by day, as a table, JSON and CSV."""

from __future__ import annotations

import json
import subprocess

from support import Gateway, child_env, gateway_bin


def _usage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(gateway_bin()), "usage", *args], capture_output=True, text=True,
                          env=env, timeout=30)


def test_usage_reports_completed_and_abandoned_requests(tmp_path):
    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    gw = Gateway([str(gateway_bin()), "serve", "--listen", "127.0.0.1:0", "--sim-time-scale", "0.3"],
                 env=env).wait_listening()
    try:
        assert str(tmp_path / "usage.db") in gw.output("stdout")
        done = gw.client.chat.completions.create(
            model="deepseek-v4-flash", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        assert done.usage.completion_tokens == 8
        # A long stream, abandoned after a few chunks.
        stream = gw.client.chat.completions.create(
            model="qwen3-32b", max_tokens=400, stream=True, extra_body={"ignore_eos": True},
            messages=[{"role": "user", "content": "tell me a story"}])
        for n, _ in enumerate(stream):
            if n == 3:
                break
        stream.close()
    finally:
        assert gw.stop() == 0

    by_model = _usage(env, "--json")
    assert by_model.returncode == 0, by_model.stderr
    rows = {r["group"]: r for r in json.loads(by_model.stdout)}
    assert set(rows) == {"deepseek-v4-flash", "qwen3-32b"}
    assert rows["deepseek-v4-flash"]["requests"] == 1
    assert rows["deepseek-v4-flash"]["not_completed"] == 0
    assert rows["deepseek-v4-flash"]["completion_tokens"] == 8
    assert rows["deepseek-v4-flash"]["cost_nanos"] > 0
    # The abandoned stream is recorded, with what it had produced, as not completed.
    assert rows["qwen3-32b"]["requests"] == 1
    assert rows["qwen3-32b"]["not_completed"] == 1
    assert rows["qwen3-32b"]["completion_tokens"] > 0

    table = _usage(env, "--by", "day")
    assert table.returncode == 0, table.stderr
    assert "2 requests" in table.stdout

    csv = _usage(env, "--by", "model", "--csv")
    lines = csv.stdout.strip().splitlines()
    assert lines[0].startswith("group,requests,not_completed")
    assert len(lines) == 3

    bad = _usage(env, "--by", "colour")
    assert bad.returncode != 0 and "key, team, model, day or endpoint" in bad.stderr

    missing = _usage(env, "--db", str(tmp_path / "nope.db"))
    assert missing.returncode != 0 and "no usage log" in missing.stderr


def test_one_request_is_found_by_its_id_in_the_gateway_and_in_the_usage_log(tmp_path):
    """The id on a response (sent with the stock openai client) finds the request: its
    trail at /admin/requests/{id} while the gateway runs, and `switchyard usage --request`
    in the log afterwards."""
    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    gw = Gateway([str(gateway_bin()), "serve", "--listen", "127.0.0.1:0", "--sim-time-scale", "0"],
                 env=env).wait_listening()
    try:
        raw = gw.client.chat.completions.with_raw_response.create(
            model="kimi-k2.5", max_tokens=8, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": "e2e-trail-1"})
        assert raw.headers["x-request-id"] == "e2e-trail-1"
        assert raw.parse().usage.completion_tokens == 8
        resp = gw.http.get("/admin/requests/e2e-trail-1")
        assert resp.status_code == 200, resp.text
        trail = resp.json()
        assert trail["source"] == "memory"
        [t] = trail["trails"]
        assert [a["fate"] for a in t["attempts"]] == ["answered"]
        assert t["records"][0]["usage"]["completion"] == 8
    finally:
        assert gw.stop() == 0

    found = _usage(env, "--request", "e2e-trail-1", "--json")
    assert found.returncode == 0, found.stderr
    [record] = json.loads(found.stdout)
    assert record["request_id"] == "e2e-trail-1"
    assert record["model"] == "kimi-k2.5" and record["completion_tokens"] == 8
    text = _usage(env, "--request", "e2e-trail-1")
    assert "request e2e-trail-1" in text.stdout and "completed status 200" in text.stdout
    missing = _usage(env, "--request", "not-a-request")
    assert missing.returncode != 0 and "no request with id 'not-a-request'" in missing.stderr
