"""The Anthropic Messages API (`POST /v1/messages`) through the official `anthropic` SDK:
plain and streamed answers, tool use round trips, images, thinking, count_tokens, every
class of error in the API's own shape, a stream that fails over before its first event,
and usage rows (with cost, limits and budgets) logged under the endpoint `messages`.

Every test runs on both upstream paths: **passed through** to each vendor's own
Anthropic-compatible endpoint (the embedded default; the simulator serves them), and
**translated** into Chat Completions (`[providers.<id>] messages = "translate"`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Iterator

import anthropic
import httpx
import pytest

import support
from support import Gateway, tiny_png

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
QUESTION = {"role": "user", "content": "What's the weather in Hangzhou right now?"}


def client_of(gw: Gateway, api_key: str = "unused") -> anthropic.Anthropic:
    """The stock client, pointed at the gateway's root (it appends /v1/messages)."""
    root = gw.base_url.removesuffix("/v1")
    return anthropic.Anthropic(base_url=root, api_key=api_key, max_retries=0, timeout=30)


MODES = ["passthrough", "translate"]

TRANSLATED = """
[simulator]
time_scale = 0.02
seed = 42
""" + "".join(f"""
[providers.{p}]
simulated = true
messages = "translate"
regions = [{{ name = "{a}" }}, {{ name = "{b}" }}]
""" for p, a, b in [("deepseek", "global", "global-b"), ("dashscope", "singapore", "beijing"),
                    ("moonshot", "global", "cn"), ("zhipu", "global", "cn")])


@pytest.fixture(scope="module")
def translated(tmp_path_factory) -> Iterator[Gateway]:
    path = tmp_path_factory.mktemp("translate") / "switchyard.toml"
    path.write_text(TRANSLATED)
    gw = support.start_gateway(config_path=path)
    yield gw
    gw.stop()


@pytest.fixture(scope="module", params=MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def served(request, mode: str) -> Gateway:
    """The gateway of `mode`: the embedded default, or every provider translated."""
    return request.getfixturevalue("gateway" if mode == "passthrough" else "translated")


@pytest.fixture(scope="module")
def client(served: Gateway) -> anthropic.Anthropic:
    return client_of(served)


def assert_path(headers, mode: str) -> None:
    """The answer went the way `mode` says."""
    passed = headers.get("x-switchyard-upstream-api") == "messages"
    assert passed == (mode == "passthrough"), dict(headers)


def test_a_plain_message_has_text_a_stop_reason_usage_and_the_gateway_headers(client, mode):
    raw = client.messages.with_raw_response.create(
        model="deepseek-v4-flash", max_tokens=16, system="Be brief.",
        messages=[{"role": "user", "content": "hello"}])
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.id.startswith("msg_")
    assert msg.model == "deepseek-v4-flash"
    texts = [b for b in msg.content if b.type == "text"]
    assert texts and texts[0].text.strip()
    assert msg.stop_reason == "max_tokens"  # the simulator writes up to max_tokens
    assert msg.usage.input_tokens > 0
    assert msg.usage.output_tokens == 16
    assert raw.headers["x-switchyard-model"] == "deepseek-v4-flash"
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert float(raw.headers["x-switchyard-cost-usd"]) > 0
    assert_path(raw.headers, mode)


def test_a_stream_sends_the_event_sequence_and_its_final_message_adds_up(client):
    names: list[str] = []
    text = ""
    with client.messages.stream(model="kimi-k2.5", max_tokens=24,
                                messages=[{"role": "user", "content": "tell me a story"}]) as s:
        for event in s:
            names.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
        final = s.get_final_message()
    assert names[0] == "message_start"
    assert names[-1] == "message_stop"
    assert "message_delta" in names
    assert names.count("content_block_start") == names.count("content_block_stop") >= 1
    final_text = "".join(b.text for b in final.content if b.type == "text")
    assert final_text == text and text.strip()
    assert final.model == "kimi-k2.5"
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 24
    assert final.usage.input_tokens > 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_use_round_trip_ends_in_text(client, stream):
    def ask(messages: list[dict[str, Any]]) -> Any:
        if not stream:
            return client.messages.create(model="deepseek-v4-flash", max_tokens=256,
                                          tools=TOOLS, messages=messages)
        with client.messages.stream(model="deepseek-v4-flash", max_tokens=256, tools=TOOLS,
                                    messages=messages) as s:
            return s.get_final_message()

    first = ask([QUESTION])
    assert first.stop_reason == "tool_use", first
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.id
    assert isinstance(call.input, dict)
    # The whole assistant turn goes back (thinking included, as Claude Code does), then
    # the tool's result.
    second = ask([
        QUESTION,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": json.dumps({"temp_c": 21, "sky": "clear"})}]},
    ])
    assert second.stop_reason in ("end_turn", "max_tokens"), second
    assert not [b for b in second.content if b.type == "tool_use"]
    assert "".join(b.text for b in second.content if b.type == "text").strip()


def test_an_image_reaches_a_vision_model_and_a_text_model_refuses_it(client):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(tiny_png()).decode()}}
    content = [image, {"type": "text", "text": "What is in this picture?"}]
    msg = client.messages.create(model="qwen3-vl-32b", max_tokens=8,
                                 messages=[{"role": "user", "content": content}])
    assert msg.usage.output_tokens == 8
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="deepseek-v4-flash", max_tokens=8,
                               messages=[{"role": "user", "content": content}])
    assert err.value.body["type"] == "error"
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert "image input" in err.value.body["error"]["message"]


def test_thinking_comes_as_a_thinking_block_before_the_text(client, mode):
    kinds: list[str] = []
    with client.messages.stream(model="glm-4.6", max_tokens=2048,
                                thinking={"type": "enabled", "budget_tokens": 1024},
                                messages=[{"role": "user", "content": "why is the sky blue?"}]) as s:
        for event in s:
            if event.type == "content_block_delta":
                kinds.append(event.delta.type)
        final = s.get_final_message()
    assert kinds[0] == "thinking_delta"
    assert "text_delta" in kinds
    assert kinds.index("text_delta") > max(i for i, k in enumerate(kinds) if k == "thinking_delta")
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking.strip()
    # The vendor's signature survives a pass-through; a translated upstream signs nothing.
    assert bool(final.content[0].signature) == (mode == "passthrough")
    # Switched off, the same model answers without thinking.
    plain = client.messages.create(model="glm-4.6", max_tokens=16,
                                   thinking={"type": "disabled"},
                                   messages=[{"role": "user", "content": "why is the sky blue?"}])
    assert [b.type for b in plain.content] == ["text"]


def test_count_tokens_counts_the_prompt_and_knows_the_models(client):
    short = client.messages.count_tokens(model="deepseek-v4-flash",
                                         messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(model="deepseek-v4-flash", tools=TOOLS,
                                        messages=[{"role": "user", "content": "hi " * 200}])
    assert 0 < short.input_tokens < long.input_tokens
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="claude-nonexistent",
                                     messages=[{"role": "user", "content": "hi"}])


def _anthropic_error(resp: httpx.Response, status: int, kind: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    assert body["error"]["message"]
    return body["error"]["message"]


def test_bad_requests_get_the_apis_error_shape_and_status(served, client):
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model="no-such-model", max_tokens=4,
                               messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="deepseek-v4-flash", max_tokens=4, messages=[])
    assert "messages" in err.value.body["error"]["message"]

    post = lambda body: served.http.post("/v1/messages", content=body,  # noqa: E731
                                          headers={"content-type": "application/json"})
    msg = _anthropic_error(post(b'{"model": "deepseek-v4-flash", "messages": [{"role": "user", '
                                b'"content": "hi"}]}'), 400, "invalid_request_error")
    assert "max_tokens" in msg
    msg = _anthropic_error(post(b'{"model": "deepseek-v4-flash", "max_tokens": "ten", '
                                b'"messages": []}'), 400, "invalid_request_error")
    assert "max_tokens" in msg
    _anthropic_error(post(b'{"model": '), 400, "invalid_request_error")
    msg = _anthropic_error(post(json.dumps({
        "model": "deepseek-v4-flash", "max_tokens": 4,
        "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f",
                                                   "input": {}}]}]}).encode()),
        400, "invalid_request_error")
    assert "messages[0].content[0]" in msg
    msg = _anthropic_error(post(json.dumps({
        "model": "deepseek-v4-flash", "max_tokens": 4,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [{"role": "user", "content": "hi"}]}).encode()), 400, "invalid_request_error")
    assert "web_search_20250305" in msg
    big = b'{"model": "deepseek-v4-flash", "max_tokens": 4, "messages": [{"role": "user", "content": "' \
        + b"a" * (11 * 1024 * 1024) + b'"}]}'
    _anthropic_error(post(big), 413, "request_too_large")
    resp = served.http.post("/v1/messages", content=b"hi", headers={"content-type": "text/plain"})
    assert resp.status_code == 415 and resp.json()["type"] == "error"


KEYED = """
[server]
listen = "127.0.0.1:0"

[keys]
enabled = true
refresh_secs = 0.2

[simulator]
time_scale = 0

[[simulator.faults]]
provider = "dashscope"
region = "*"
kind = "server_error"

[[simulator.faults]]
provider = "moonshot"
region = "*"
kind = "overloaded"

[providers.deepseek]
simulated = true
messages = "{mode}"
regions = [{{ name = "global" }}]

[providers.dashscope]
simulated = true
messages = "{mode}"
regions = [{{ name = "singapore" }}]

[providers.moonshot]
simulated = true
messages = "{mode}"
regions = [{{ name = "global" }}]
"""


@pytest.fixture
def keyed(tmp_path: Path, mode: str):
    """A gateway with keys on, dashscope failing with 500s and moonshot overloaded, and
    three keys made before it starts: `agent` (any model, no limits), `claude-code` (three
    models, 4 requests a minute), `broke` (a budget smaller than any request). Yields the
    gateway, the keys' secrets by name, and the environment `switchyard usage` needs."""
    gw, keys, env = support.keyed_gateway(tmp_path, KEYED.format(mode=mode), {
        "agent": (),
        "claude-code": ("--models", "deepseek-v4-flash,qwen-plus,kimi-k2.5", "--rpm", "4"),
        "broke": ("--budget", "0.0000001", "--period", "day"),
    })
    yield gw, keys, env
    gw.stop()


def test_keys_limits_budgets_and_upstream_failures_are_told_as_anthropic_errors(keyed):
    gw, keys, _ = keyed
    key, broke = keys["claude-code"], keys["broke"]
    ask = {"max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}

    with pytest.raises(anthropic.AuthenticationError) as err:
        client_of(gw, "sy-wrong").messages.create(model="deepseek-v4-flash", **ask)
    assert err.value.body["error"]["type"] == "authentication_error"

    client = client_of(gw, key)  # sends the key as x-api-key
    assert client.messages.create(model="deepseek-v4-flash", **ask).usage.output_tokens == 4

    with pytest.raises(anthropic.PermissionDeniedError) as err:
        client.messages.create(model="glm-4.6", **ask)
    assert err.value.body["error"]["type"] == "permission_error"

    with pytest.raises(anthropic.InternalServerError) as err:
        client.messages.create(model="qwen-plus", **ask)
    assert err.value.status_code >= 500
    assert err.value.body["error"]["type"] in ("api_error", "overloaded_error")

    with pytest.raises(anthropic.APIStatusError) as err:
        client.messages.create(model="kimi-k2.5", **ask)
    assert err.value.status_code in (429, 503), err.value
    assert err.value.body["error"]["type"] in ("rate_limit_error", "overloaded_error")

    # Four requests a minute (the refused model did not count): the fifth is refused, with
    # the limit's headers.
    client.messages.create(model="deepseek-v4-flash", **ask)
    with pytest.raises(anthropic.RateLimitError) as err:
        client.messages.create(model="deepseek-v4-flash", **ask)
    assert err.value.body["error"]["type"] == "rate_limit_error"
    assert err.value.response.headers.get("retry-after")

    # A budget smaller than the most the request could cost.
    with pytest.raises(anthropic.APIStatusError) as err:
        client_of(gw, broke).messages.create(model="deepseek-v4-flash", **ask)
    assert err.value.status_code == 402
    assert err.value.body["error"]["type"] == "billing_error"


def test_messages_usage_is_logged_under_its_endpoint_with_its_cost(keyed, mode):
    gw, keys, env = keyed
    client = client_of(gw, keys["agent"])
    whole = client.messages.with_raw_response.create(
        model="deepseek-v4-flash", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert_path(whole.headers, mode)
    with client.messages.stream(model="deepseek-v4-flash", max_tokens=8,
                                messages=[{"role": "user", "content": "hi"}]) as s:
        streamed = s.get_final_message()
    gw.stop()
    messages = support.usage_by(env)["messages"]
    assert messages["requests"] == 2
    assert messages["completion_tokens"] == whole.parse().usage.output_tokens \
        + streamed.usage.output_tokens
    assert messages["cost_nanos"] > 0
    assert float(whole.headers["x-switchyard-cost-usd"]) * 1e9 < messages["cost_nanos"]


FAILOVER = """
[simulator]
time_scale = 0

[[simulator.faults]]
provider = "deepseek"
region = "global"
kind = "drop_after"
tokens = 0

[providers.deepseek]
simulated = true
messages = "{mode}"
regions = [{{ name = "global" }}, {{ name = "cn" }}]
"""


def test_a_stream_that_fails_before_its_first_event_moves_to_the_next_region_unseen(
        start_gateway_with_config, mode):
    gw = start_gateway_with_config(FAILOVER.format(mode=mode))
    client = client_of(gw)
    with client.messages.with_streaming_response.create(
            model="deepseek-v4-flash", max_tokens=12, stream=True,
            messages=[{"role": "user", "content": "hello"}]) as raw:
        request_id = raw.headers["request-id"]
        assert_path(raw.headers, mode)
        events = [json.loads(line[len("data: "):]) for line in raw.iter_lines()
                  if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "error" not in kinds
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["usage"]["output_tokens"] == 12
    # The first region's stream broke before its first token; the second answered.
    attempts = support.attempts_of(gw, request_id)
    assert attempts[0][0] == "global" and attempts[0][1] != "answered", attempts
    assert attempts[-1] == ("cn", "answered"), attempts
