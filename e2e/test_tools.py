"""Tool calling: the model calls the first tool, streamed arguments assemble into
JSON, and a tool result turns into a text answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current local time for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]
QUESTION = {"role": "user", "content": "What's the weather in Hangzhou right now?"}


def reasoning_of(message: Any) -> str | None:
    return (message.model_extra or {}).get("reasoning_content")


def assert_first_tool_called(resp: Any) -> Any:
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls
    assert calls, f"no tool_calls in {choice.message}"
    call = calls[0]
    assert call.id
    assert call.type == "function"
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args, dict), args
    return call


@pytest.mark.parametrize("model", ["deepseek-v4-flash", "kimi-k2.5"])
def test_tools_given_model_calls_first_tool(gateway, model):
    resp = gateway.client.chat.completions.create(model=model, messages=[QUESTION], tools=TOOLS)
    assert resp.model == model
    assert_first_tool_called(resp)
    usage = resp.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_tool_call_deltas_assemble_into_valid_json(gateway):
    stream = gateway.client.chat.completions.create(
        model="deepseek-v4-flash", messages=[QUESTION], tools=TOOLS, stream=True
    )
    calls: dict[int, dict[str, Any]] = {}
    finish = []
    with stream:
        for chunk in stream:
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            if choice.finish_reason:
                finish.append(choice.finish_reason)
            for tc in choice.delta.tool_calls or []:
                if tc.index not in calls:
                    # The first delta of each call carries its id and name.
                    assert tc.id, f"first delta of tool call {tc.index} has no id: {tc}"
                    assert tc.function and tc.function.name, f"first delta has no name: {tc}"
                    calls[tc.index] = {"id": tc.id, "name": tc.function.name, "args": ""}
                if tc.function and tc.function.arguments:
                    calls[tc.index]["args"] += tc.function.arguments
    assert finish == ["tool_calls"], finish
    assert calls, "no tool-call deltas in the stream"
    first = calls[min(calls)]
    assert first["name"] == "get_weather"
    args = json.loads(first["args"])
    assert isinstance(args, dict), args


def _assistant_turn(call: Any, message: Any, with_reasoning: bool) -> dict[str, Any]:
    turn: dict[str, Any] = {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
        ],
    }
    if with_reasoning:
        turn["reasoning_content"] = reasoning_of(message) or "I should look up the weather."
    return turn


@pytest.mark.parametrize(
    "model,with_reasoning",
    [("deepseek-v4-flash", False), ("deepseek-r1", True)],
    ids=["deepseek-v4-flash", "deepseek-r1-with-reasoning-content"],
)
def test_two_turn_tool_conversation_ends_in_text(gateway, model, with_reasoning):
    client = gateway.client
    first = client.chat.completions.create(model=model, messages=[QUESTION], tools=TOOLS)
    call = assert_first_tool_called(first)

    messages = [
        QUESTION,
        _assistant_turn(call, first.choices[0].message, with_reasoning),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"city": "Hangzhou", "temp_c": 21, "sky": "clear"}),
        },
    ]
    second = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    choice = second.choices[0]
    assert choice.finish_reason == "stop", choice
    assert not choice.message.tool_calls
    assert (choice.message.content or "").strip()
    usage = second.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    if with_reasoning:
        assert (reasoning_of(choice.message) or "").strip(), "reasoning model gave no reasoning"
