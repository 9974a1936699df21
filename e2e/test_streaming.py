"""Streaming chat completions (SSE) through the official OpenAI SDK."""

from __future__ import annotations

from typing import Any

import pytest

USER = [{"role": "user", "content": "Count slowly from one to ten."}]


def collect(stream: Any) -> list[Any]:
    with stream:
        return list(stream)


def reasoning_delta(delta: Any) -> str | None:
    extra = delta.model_extra or {}
    return extra.get("reasoning_content", getattr(delta, "reasoning_content", None))


@pytest.mark.parametrize("model", ["deepseek-v4-flash", "qwen3-32b", "glm-4.5-flash"])
def test_stream_yields_content_deltas_and_no_usage_by_default(gateway, model):
    chunks = collect(
        gateway.client.chat.completions.create(
            model=model, messages=USER, max_tokens=16, stream=True
        )
    )
    assert chunks, "empty stream"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "chunk ids differ within one stream"
    assert all(c.model == model for c in chunks)
    assert all(c.usage is None for c in chunks), "usage sent without include_usage"

    with_choices = [c for c in chunks if c.choices]
    assert with_choices == chunks, "a chunk without choices appeared without include_usage"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) >= 2, f"expected several content deltas, got {pieces}"
    assert "".join(pieces).strip()
    finish = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finish == ["length"], finish
    assert chunks[-1].choices[0].finish_reason == "length"


def test_stream_with_include_usage_ends_with_usage_chunk(gateway):
    chunks = collect(
        gateway.client.chat.completions.create(
            model="deepseek-v4-flash",
            messages=USER,
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    usage = last.usage
    assert usage is not None
    assert usage.completion_tokens == 16
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details is not None
    assert usage.prompt_tokens_details is not None
    assert isinstance(usage.prompt_tokens_details.cached_tokens, int)
    for c in chunks[:-1]:
        assert c.usage is None, "usage appeared before the final chunk"
        assert c.choices, "a choices-less chunk before the final one"
    content = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    assert content.strip()


def test_stream_with_include_usage_false_sends_no_usage(gateway):
    chunks = collect(
        gateway.client.chat.completions.create(
            model="qwen3-32b",
            messages=USER,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": False},
        )
    )
    assert chunks
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_stream_alias_reports_canonical_model(gateway):
    chunks = collect(
        gateway.client.chat.completions.create(
            model="Qwen/Qwen3-32B", messages=USER, max_tokens=8, stream=True
        )
    )
    assert chunks and all(c.model == "qwen3-32b" for c in chunks)


def test_stream_n2_yields_both_choice_indices(gateway):
    chunks = collect(
        gateway.client.chat.completions.create(
            model="deepseek-v4-flash", messages=USER, max_tokens=8, n=2, stream=True
        )
    )
    text = {0: "", 1: ""}
    for c in chunks:
        for choice in c.choices:
            text[choice.index] += choice.delta.content or ""
    assert text[0].strip() and text[1].strip(), text


def test_stream_reasoning_content_precedes_content(gateway):
    chunks = collect(
        gateway.client.chat.completions.create(
            model="deepseek-r1",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    kinds = []  # "r" for a reasoning delta, "c" for a content delta, in order
    reasoning, content = "", ""
    for c in chunks:
        if not c.choices:
            continue
        delta = c.choices[0].delta
        r = reasoning_delta(delta)
        if r:
            kinds.append("r")
            reasoning += r
        if delta.content:
            kinds.append("c")
            content += delta.content
    assert reasoning.strip(), "no reasoning_content deltas"
    assert content.strip(), "no content deltas"
    first_content = kinds.index("c")
    assert "r" not in kinds[first_content:], f"reasoning after content began: {''.join(kinds)}"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details.reasoning_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
