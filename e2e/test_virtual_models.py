"""Virtual models and JSON output through the stock openai SDK: the tiered `auto` model
answers with the route in its headers, structured output (`chat.completions.parse` with a
pydantic model) reaches only a model that enforces schemas, and a model without it is
refused with a 400 the SDK raises as BadRequestError. A stream to a virtual model that
escalates streams is held, checked, and replayed or escalated: the SDK reads both."""

import json

import openai
import pytest
from pydantic import BaseModel

CONFIG = """
[simulator]
time_scale = 0.01

[providers.dashscope]
simulated = true

[providers.deepseek]
simulated = true

[providers.zhipu]
simulated = true

[virtual_models.auto]
policy = "tiered"
models = ["qwen-flash", "qwen3-32b", "deepseek-v4-pro"]
shares = [0.7, 0.1, 0.2]

[virtual_models.careful]
policy = "tiered"
models = ["qwen-flash", "qwen3-32b"]
shares = [0.9, 0.1]
escalate = true
escalate_streams = true

[virtual_models.structured]
policy = "tiered"
models = ["qwen-flash", "qwen-plus"]
shares = [0.9, 0.1]
"""


class City(BaseModel):
    city: str
    population: int


@pytest.fixture
def gw(start_gateway_with_config):
    return start_gateway_with_config(CONFIG)


def test_auto_routes_and_says_why_in_headers(gw):
    raw = gw.client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=16)
    resp = raw.parse()
    route = raw.headers["x-switchyard-route"]
    assert route.startswith("auto; policy=tiered; model="), route
    assert "score=" in route and "reason=" in route, route
    assert raw.headers["x-switchyard-model"] in ("qwen-flash", "qwen3-32b", "deepseek-v4-pro")
    assert resp.choices[0].message.content
    listed = {m.id for m in gw.client.models.list()}
    assert {"auto", "structured"} <= listed


def test_structured_output_goes_to_a_schema_model_and_parses(gw):
    raw = gw.client.chat.completions.with_raw_response.parse(
        model="structured", response_format=City, max_tokens=200,
        messages=[{"role": "user", "content": "The largest city of Japan?"}])
    resp = raw.parse()
    assert raw.headers["x-switchyard-model"] == "qwen-plus"
    assert "tier 0 cannot take the request" in raw.headers["x-switchyard-route"]
    parsed = resp.choices[0].message.parsed
    assert isinstance(parsed, City), resp.choices[0].message.content


def test_json_mode_answer_is_json(gw):
    resp = gw.client.chat.completions.create(
        model="auto", response_format={"type": "json_object"}, max_tokens=200,
        messages=[{"role": "user", "content": "Reply in JSON: the capital of France?"}])
    assert isinstance(json.loads(resp.choices[0].message.content), dict)


def test_a_model_without_structured_output_is_refused_clearly(gw):
    with pytest.raises(openai.BadRequestError) as err:
        gw.client.chat.completions.parse(
            model="glm-4.6", response_format=City, max_tokens=50,
            messages=[{"role": "user", "content": "The largest city of Japan?"}])
    assert err.value.status_code == 400
    message = err.value.body["message"]
    assert "structured output" in message and "qwen-plus" in message, message


def _stream(gw, **extra):
    raw = gw.client.chat.completions.with_raw_response.create(
        model="careful", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "What is the capital of France?"}], **extra)
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return raw.headers, chunks, text


def test_held_streams_replay_a_good_answer_and_escalate_a_cut_one(gw):
    headers, chunks, text = _stream(gw)
    assert headers["x-switchyard-model"] == "qwen-flash"
    assert "stream held" in headers["x-switchyard-route"]
    assert text.strip() and chunks[-1].usage.completion_tokens > 0

    headers, chunks, text = _stream(gw, max_tokens=5)
    assert headers["x-switchyard-model"] == "qwen3-32b"
    assert "escalated from qwen-flash (cut at max tokens)" in headers["x-switchyard-route"]
    assert chunks[-1].usage.completion_tokens == 5


def test_escalation_fires_only_when_the_cheap_answer_really_was_cut(gw):
    """A generous cap, as real clients set, lets the cheap model finish on its own (the
    simulator stops like a model does), so nothing is asked twice; a cap that cuts the
    answer escalates it."""
    ask = [{"role": "user", "content": "What is the capital of France?"}]
    for _ in range(5):
        raw = gw.client.chat.completions.with_raw_response.create(
            model="careful", max_tokens=4096, messages=ask)
        route = raw.headers["x-switchyard-route"]
        assert raw.headers["x-switchyard-model"] == "qwen-flash", route
        assert "escalated" not in route
        answer = raw.parse()
        assert answer.choices[0].finish_reason == "stop"
        assert 0 < answer.usage.completion_tokens < 4096
    cut = gw.client.chat.completions.with_raw_response.create(
        model="careful", max_tokens=5, messages=ask)
    assert cut.headers["x-switchyard-model"] == "qwen3-32b"
    assert "escalated from qwen-flash (cut at max tokens)" in cut.headers["x-switchyard-route"]


@pytest.mark.parametrize("name,policy", [("auto", "tiered"), ("auto-budget", "cheapest"),
                                         ("code", "fastest")])
def test_the_embedded_default_offers_virtual_models_to_call_at_once(gateway, name, policy):
    listed = {m["id"]: m for m in gateway.http.get("/v1/models").json()["data"]}
    assert listed[name]["virtual"] is True and listed[name]["policy"] == policy
    raw = gateway.client.chat.completions.with_raw_response.create(
        model=name, max_tokens=1024,
        messages=[{"role": "user", "content": "Write a function that reverses a string."}])
    answer = raw.parse()
    route = raw.headers["x-switchyard-route"]
    assert route.startswith(f"{name}; policy={policy}"), route
    assert raw.headers["x-switchyard-model"] in listed[name]["models"]
    assert answer.model == raw.headers["x-switchyard-model"]
    assert answer.choices[0].message.content.strip()
