"""The model list, health probes, Prometheus metrics, and surviving a client that
walks away from a stream."""

from __future__ import annotations

import json
import time

import pytest

from support import CATALOG, metric_sum, parse_prometheus, sse_data_lines

EXPECTED_CAPABILITIES = {
    "deepseek-v4-flash": {"text", "tools"},
    "deepseek-r1": {"reasoning"},
    "qwen3-vl-32b": {"vision"},
    "qwen3-omni-30b": {"audio", "vision"},
    "kimi-k2.5": {"vision", "tools", "reasoning"},
    "glm-4.6v": {"vision"},
}


# ---------------------------------------------------------------------------- models
def test_models_list_returns_whole_catalog_with_details(gateway):
    models = {m.id: m for m in gateway.client.models.list()}
    missing = set(CATALOG) - models.keys()
    assert not missing, f"catalog models missing from /v1/models: {sorted(missing)}"
    for model_id in CATALOG:
        m = models[model_id]
        extra = m.model_extra or {}
        assert m.object == "model", m
        assert isinstance(m.owned_by, str) and m.owned_by, m
        assert isinstance(extra.get("context_window"), int) and extra["context_window"] > 0, m
        assert isinstance(extra.get("max_output"), int) and 0 < extra["max_output"], m
        assert extra["max_output"] <= extra["context_window"], m
        caps = extra.get("capabilities")
        assert isinstance(caps, list) and caps and all(isinstance(c, str) for c in caps), m
        assert EXPECTED_CAPABILITIES.get(model_id, set()) <= set(caps), (model_id, caps)
        price = extra.get("price")
        assert isinstance(price, dict), m
        for key in ("input", "cached_input", "output"):
            assert isinstance(price.get(key), (int, float)) and price[key] >= 0, (model_id, price)


def test_models_endpoint_is_an_openai_list(gateway):
    resp = gateway.http.get("/v1/models")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["object"] == "list"
    assert isinstance(body["data"], list) and len(body["data"]) >= len(CATALOG)
    assert len({m["id"] for m in body["data"]}) == len(body["data"]), "duplicate model ids"


def test_text_only_models_do_not_claim_vision(gateway):
    models = {m.id: m for m in gateway.client.models.list()}
    caps = models["deepseek-v4-flash"].model_extra["capabilities"]
    assert "vision" not in caps and "audio" not in caps, caps


# ---------------------------------------------------------------------------- ops
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_probes_return_200(gateway, path):
    assert gateway.http.get(path).status_code == 200


def test_startup_banner_says_simulated(gateway):
    assert "simulated" in gateway.output("stdout").lower() + gateway.output("stderr").lower()


def scrape(gateway):
    resp = gateway.http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain"), resp.headers
    return resp.text


def test_metrics_expose_request_latency_ttft_and_token_series(gateway):
    client = gateway.client
    client.chat.completions.create(
        model="deepseek-v4-flash", messages=[{"role": "user", "content": "hi"}], max_tokens=8
    )
    with client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=8,
        stream=True,
    ) as stream:
        for _ in stream:
            pass

    text = scrape(gateway)
    samples = parse_prometheus(text)

    requests = [s for s in samples if s.name == "switchyard_requests_total"]
    assert requests, "no switchyard_requests_total series"
    for s in requests:
        assert "model" in s.labels and "provider" in s.labels, s
    ours = [s for s in requests if s.labels["model"] == "deepseek-v4-flash"]
    assert ours and sum(s.value for s in ours) >= 2, ours
    assert all(s.labels["provider"] for s in ours), ours

    for hist in ("switchyard_request_duration_seconds", "switchyard_ttft_seconds"):
        assert f"# TYPE {hist} histogram" in text, f"{hist} is not a histogram"
        buckets = [s for s in samples if s.name == f"{hist}_bucket"]
        assert buckets and all("le" in s.labels for s in buckets), hist
        assert any(s.labels["le"] == "+Inf" for s in buckets), hist
        assert metric_sum(samples, f"{hist}_count") >= 1, hist

    tokens = [s for s in samples if s.name == "switchyard_tokens_total"]
    assert tokens and sum(s.value for s in tokens) > 0, "no token counts"


def test_stream_cut_by_client_leaves_gateway_healthy_and_counted(gateway):
    model = "glm-4.5-flash"
    before = metric_sum(parse_prometheus(scrape(gateway)), "switchyard_requests_total", model=model)

    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Tell me a long story."}],
        "max_tokens": 1000,
        "ignore_eos": True,
        "stream": True,
    }
    got = []
    with gateway.http.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for data in sse_data_lines(resp.iter_lines()):
            if data == "[DONE]":
                break
            got.append(json.loads(data))
            if len(got) == 2:
                break  # leaving the block closes the connection mid-stream
    assert len(got) == 2, got

    # The gateway notices the disconnect and still counts the request.
    deadline = time.monotonic() + 10
    while True:
        after = metric_sum(parse_prometheus(scrape(gateway)), "switchyard_requests_total", model=model)
        if after >= before + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after >= before + 1, f"interrupted request not counted ({before} -> {after})"

    assert gateway.http.get("/healthz").status_code == 200
    resp = gateway.client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "still there?"}], max_tokens=8
    )
    assert (resp.choices[0].message.content or "").strip()
    assert resp.usage.completion_tokens == 8
