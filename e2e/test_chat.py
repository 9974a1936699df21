"""Non-streaming chat completions through the official OpenAI SDK."""

from __future__ import annotations

from typing import Any

import pytest

from support import CATALOG, ONE_PER_FAMILY, REASONING_MODELS

USER = [{"role": "user", "content": "Say hello to the switchyard in one sentence."}]


def assert_usage_consistent(usage: Any) -> None:
    assert usage is not None, "response has no usage"
    assert isinstance(usage.prompt_tokens, int) and usage.prompt_tokens > 0, usage
    assert isinstance(usage.completion_tokens, int) and usage.completion_tokens >= 0, usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage
    # The normalised usage always carries both detail objects.
    assert usage.completion_tokens_details is not None, usage
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert isinstance(reasoning, int) and 0 <= reasoning <= usage.completion_tokens, usage
    assert usage.prompt_tokens_details is not None, usage
    cached = usage.prompt_tokens_details.cached_tokens
    assert isinstance(cached, int) and 0 <= cached <= usage.prompt_tokens, usage


def reasoning_of(message: Any) -> str | None:
    return (message.model_extra or {}).get("reasoning_content")


@pytest.mark.parametrize("model", ONE_PER_FAMILY)
def test_plain_chat_returns_text_with_consistent_usage(gateway, model):
    resp = gateway.client.chat.completions.create(model=model, messages=USER, max_tokens=16)

    assert resp.object == "chat.completion"
    assert resp.id
    assert resp.model == model
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "length"
    text = choice.message.content or ""
    if model in REASONING_MODELS:
        # 16 tokens may all go to thinking; something must have been produced.
        assert text.strip() or (reasoning_of(choice.message) or "").strip()
    else:
        assert text.strip(), resp
    assert_usage_consistent(resp.usage)
    assert resp.usage.completion_tokens == 16


@pytest.mark.parametrize("model", CATALOG)
def test_every_catalog_model_answers(gateway, model):
    resp = gateway.client.chat.completions.create(model=model, messages=USER, max_tokens=8)
    assert resp.model == model
    assert resp.choices[0].finish_reason == "length"
    assert_usage_consistent(resp.usage)
    assert resp.usage.completion_tokens == 8


def test_chat_without_max_tokens_stops_naturally(gateway):
    resp = gateway.client.chat.completions.create(model="deepseek-v4-flash", messages=USER)
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.choices[0].message.content or "").strip()
    assert_usage_consistent(resp.usage)
    assert resp.usage.completion_tokens > 0


def test_max_completion_tokens_sets_completion_length(gateway):
    resp = gateway.client.chat.completions.create(
        model="qwen3-32b", messages=USER, max_completion_tokens=20
    )
    assert resp.choices[0].finish_reason == "length"
    assert_usage_consistent(resp.usage)
    assert resp.usage.completion_tokens == 20


def test_reasoning_tokens_count_inside_completion_tokens(gateway):
    resp = gateway.client.chat.completions.create(
        model="deepseek-r1", messages=USER, max_tokens=24
    )
    assert_usage_consistent(resp.usage)
    assert resp.usage.completion_tokens == 24
    reasoning_tokens = resp.usage.completion_tokens_details.reasoning_tokens
    assert 0 < reasoning_tokens <= 24
    assert (reasoning_of(resp.choices[0].message) or "").strip()


def test_reasoning_model_returns_reasoning_content_and_answer(gateway):
    resp = gateway.client.chat.completions.create(model="deepseek-r1", messages=USER)
    message = resp.choices[0].message
    reasoning = message.model_extra["reasoning_content"]
    assert isinstance(reasoning, str) and reasoning.strip()
    assert (message.content or "").strip()
    assert resp.choices[0].finish_reason == "stop"
    assert_usage_consistent(resp.usage)
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0


def test_n2_returns_two_choices(gateway):
    resp = gateway.client.chat.completions.create(
        model="deepseek-v4-flash", messages=USER, n=2, max_tokens=8
    )
    assert sorted(c.index for c in resp.choices) == [0, 1]
    for choice in resp.choices:
        assert (choice.message.content or "").strip()
        assert choice.finish_reason == "length"
    assert_usage_consistent(resp.usage)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"response_format": {"type": "json_object"}}, id="response_format_json_object"),
        pytest.param({"stop": ["\n\n", "END"]}, id="stop_list"),
        pytest.param({"stop": "END"}, id="stop_string"),
        pytest.param({"seed": 42}, id="seed"),
        pytest.param({"user": "e2e-user-1"}, id="user"),
        pytest.param({"temperature": 0.2}, id="temperature"),
        pytest.param({"top_p": 0.9}, id="top_p"),
        pytest.param({"max_completion_tokens": 12}, id="max_completion_tokens"),
        pytest.param(
            {
                "response_format": {"type": "json_object"},
                "n": 2,
                "stop": ["END"],
                "seed": 7,
                "user": "e2e-user-2",
                "temperature": 0.5,
                "top_p": 0.5,
                "max_completion_tokens": 12,
            },
            id="all_together",
        ),
    ],
)
def test_sdk_parameters_are_accepted(gateway, params):
    messages = [{"role": "user", "content": "Reply with a JSON object saying hello."}]
    if "max_completion_tokens" not in params:
        params = {**params, "max_tokens": 12}
    resp = gateway.client.chat.completions.create(
        model="deepseek-v4-flash", messages=messages, **params
    )
    assert len(resp.choices) == params.get("n", 1)
    assert resp.choices[0].message.role == "assistant"
    assert_usage_consistent(resp.usage)


@pytest.mark.parametrize("alias", ["Qwen/Qwen3-32B", "QWEN3_32B", "qwen3-32b"])
def test_model_aliases_resolve_to_canonical_id(gateway, alias):
    resp = gateway.client.chat.completions.create(model=alias, messages=USER, max_tokens=8)
    assert resp.model == "qwen3-32b"
    assert (resp.choices[0].message.content or "").strip()


def test_unknown_body_fields_pass_through(gateway):
    resp = gateway.client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=USER,
        max_tokens=8,
        extra_body={"my_custom_field": 1, "another": {"nested": [1, 2, 3]}},
    )
    assert (resp.choices[0].message.content or "").strip()
    assert resp.usage.completion_tokens == 8


def test_system_and_multi_turn_messages_are_accepted(gateway):
    resp = gateway.client.chat.completions.create(
        model="glm-4.5-flash",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi."},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [{"type": "text", "text": "And again, as parts."}]},
        ],
        max_tokens=8,
    )
    assert (resp.choices[0].message.content or "").strip()
    assert_usage_consistent(resp.usage)
