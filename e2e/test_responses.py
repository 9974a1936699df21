"""The Responses API (`POST /v1/responses`, its stateless subset) through the official
`openai` SDK on the embedded default: text and item inputs, instructions, streamed
events, reasoning items, a function-call round trip, JSON output, an answer cut at
`max_output_tokens`, what a stateless gateway refuses, a stream that fails over before
its first event, and usage rows (with keys' limits) under the endpoint `responses`."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from support import assert_error, attempts_of, keyed_gateway, usage_by

TOOLS = [{
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}]


def test_a_text_input_gets_a_completed_response_that_echoes_its_request(gateway):
    raw = gateway.client.responses.with_raw_response.create(
        model="deepseek-v4-flash", input="hello", instructions="Be brief.", temperature=0.3)
    r = raw.parse()
    assert r.id.startswith("resp_") and r.object == "response"
    assert r.status == "completed"
    assert r.model == "deepseek-v4-flash"
    assert r.output_text.strip()
    assert r.instructions == "Be brief."
    assert r.temperature == pytest.approx(0.3)
    assert r.store is False
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert raw.headers["x-switchyard-model"] == "deepseek-v4-flash"
    assert float(raw.headers["x-switchyard-cost-usd"]) > 0


def test_a_stream_numbers_its_events_and_ends_with_the_whole_response(gateway):
    stream = gateway.client.responses.create(model="kimi-k2.5", input="tell me a story",
                                             stream=True)
    events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[1].type == "response.in_progress"
    done = events[-1]
    assert done.type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.strip() and text == done.response.output_text
    assert done.response.usage.output_tokens > 0
    added = [e for e in events if e.type == "response.output_item.added"]
    finished = [e for e in events if e.type == "response.output_item.done"]
    assert [e.item.id for e in added] == [e.item.id for e in finished] \
        == [o.id for o in done.response.output]


def test_reasoning_comes_as_a_reasoning_item_before_the_message(gateway):
    with gateway.client.responses.stream(model="glm-4.6", input="why is the sky blue?") as s:
        kinds = [e.type for e in s]
        final = s.get_final_response()
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text.strip()
    assert kinds.index("response.output_text.delta") > kinds.index("response.reasoning_text.delta")
    assert final.usage.output_tokens_details.reasoning_tokens > 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_function_call_round_trip_ends_in_text(gateway, stream):
    client = gateway.client

    def ask(items):
        if not stream:
            return client.responses.create(model="deepseek-v4-flash", tools=TOOLS, input=items)
        with client.responses.stream(model="deepseek-v4-flash", tools=TOOLS, input=items) as s:
            return s.get_final_response()

    question = [{"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}]
    first = ask(question)
    calls = [o for o in first.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].call_id
    assert isinstance(json.loads(calls[0].arguments), dict)
    second = ask(question + [o.model_dump(exclude_none=True) for o in first.output] + [
        {"type": "function_call_output", "call_id": calls[0].call_id,
         "output": json.dumps({"temp_c": 21})}])
    assert second.status == "completed"
    assert not [o for o in second.output if o.type == "function_call"]
    assert second.output_text.strip()


def test_json_output_and_a_cut_answer(gateway):
    r = gateway.client.responses.create(
        model="deepseek-v4-flash", input="Reply in json with a field answer.",
        text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(r.output_text), dict)
    cut = gateway.client.responses.create(model="deepseek-v4-flash", input="hello",
                                          max_output_tokens=8)
    assert cut.status == "incomplete"
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.usage.output_tokens == 8


def test_what_a_stateless_gateway_cannot_do_is_refused_with_a_400(gateway):
    client = gateway.client
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="deepseek-v4-flash", input="x", previous_response_id="resp_1")
    assert err.value.body["param"] == "previous_response_id"
    assert "whole conversation" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="deepseek-v4-flash", input="x", store=True)
    assert err.value.body["param"] == "store"
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="deepseek-v4-flash", input="x",
                                tools=[{"type": "web_search"}])
    assert err.value.body["param"] == "tools[0].type"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="x")
    post = lambda body: gateway.http.post("/v1/responses", json=body)  # noqa: E731
    assert_error(post({"model": "deepseek-v4-flash"}), 400, "missing_required_parameter")
    err = assert_error(post({"model": "deepseek-v4-flash", "input": [
        {"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}), 400,
        "invalid_value")
    assert err["param"] == "input[0].content[0].type"
    assert_error(post({"model": "deepseek-v4-flash", "input": []}), 400, "invalid_value")
    resp = gateway.http.post("/v1/responses", content=b'{"model": ',
                             headers={"content-type": "application/json"})
    assert_error(resp, 400, "invalid_json")


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
regions = [{ name = "global" }, { name = "cn" }]
"""


def test_a_stream_that_fails_before_its_first_event_moves_on_unseen(start_gateway_with_config):
    gw = start_gateway_with_config(FAILOVER)
    with gw.client.responses.with_streaming_response.create(
            model="deepseek-v4-flash", input="hello", stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        events = [json.loads(line[len("data: "):]) for line in raw.iter_lines()
                  if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "error" not in kinds
    regions = attempts_of(gw, request_id)
    assert regions[0][0] == "global" and regions[-1] == ("cn", "answered"), regions


KEYED = """
[server]
listen = "127.0.0.1:0"

[keys]
enabled = true

[simulator]
time_scale = 0

[providers.deepseek]
simulated = true
regions = [{ name = "global" }]
"""


def test_limits_apply_and_usage_is_logged_under_responses_with_cost(tmp_path: Path):
    gw, keys, env = keyed_gateway(tmp_path, KEYED, {"agent": ("--rpm", "2")})
    key = keys["agent"]
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
        whole = client.responses.create(model="deepseek-v4-flash", input="hi")
        with client.responses.stream(model="deepseek-v4-flash", input="hi") as s:
            streamed = s.get_final_response()
        with pytest.raises(openai.RateLimitError):
            client.responses.create(model="deepseek-v4-flash", input="hi")
    finally:
        assert gw.stop() == 0
    rows = usage_by(env)
    assert rows["responses"]["requests"] == 2
    assert rows["responses"]["completion_tokens"] == \
        whole.usage.output_tokens + streamed.usage.output_tokens
    assert rows["responses"]["cost_nanos"] > 0
