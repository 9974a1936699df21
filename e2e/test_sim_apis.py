"""The simulator's other vendor APIs, standalone and through the stock SDKs: each
vendor's Anthropic-compatible `/v1/messages` (DeepSeek's and Kimi's `/anthropic`,
DashScope's `/apps/anthropic`, Zhipu's `/api/anthropic`) with the `anthropic` SDK —
plain, streamed with thinking, a tool call, its errors and an injected fault — and the
embeddings endpoints of DashScope and Zhipu with the `openai` SDK."""

from __future__ import annotations

from typing import Iterator

import anthropic
import httpx
import openai
import pytest

from support import Gateway, child_env, gateway_bin

PATHS = {
    "deepseek": ("global", "/anthropic", "deepseek-v4-flash"),
    "moonshot": ("global", "/anthropic", "kimi-k2.5"),
    "dashscope": ("singapore", "/apps/anthropic", "qwen3-max"),
    "zhipu": ("global", "/api/anthropic", "glm-4.6"),
}


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    proc = Gateway([str(gateway_bin()), "sim", "--listen", "127.0.0.1:0", "--time-scale", "0.01",
                    "--api-key", "sim-key"], env=child_env())
    try:
        yield proc.wait_listening().root_url
    finally:
        proc.stop()


def messages_client(sim: str, provider: str) -> anthropic.Anthropic:
    region, prefix, _ = PATHS[provider]
    return anthropic.Anthropic(base_url=f"{sim}/{provider}/{region}{prefix}", api_key="sim-key",
                               max_retries=0, timeout=30)


@pytest.mark.parametrize("provider", list(PATHS))
def test_each_vendors_anthropic_endpoint_answers_the_sdk(sim, provider):
    model = PATHS[provider][2]
    client = messages_client(sim, provider)
    msg = client.messages.create(model=model, max_tokens=12,
                                 messages=[{"role": "user", "content": "hi"}])
    assert msg.type == "message" and msg.id.startswith("msg_")
    assert msg.usage.output_tokens == 12 and msg.usage.input_tokens > 0
    assert msg.stop_reason == "max_tokens"
    with client.messages.stream(model=model, max_tokens=12,
                                messages=[{"role": "user", "content": "hi"}]) as s:
        names = [e.type for e in s]
        final = s.get_final_message()
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert final.usage.output_tokens == 12
    assert final.content and all(b.type in ("thinking", "text") for b in final.content)


def test_thinking_blocks_are_signed_and_tools_are_called(sim):
    client = messages_client(sim, "zhipu")
    with client.messages.stream(model="glm-4.6", max_tokens=64,
                                messages=[{"role": "user", "content": "why?"}]) as s:
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature
    tools = [{"name": "get_weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    call = messages_client(sim, "deepseek").messages.create(
        model="deepseek-v4-flash", max_tokens=256, tools=tools,
        messages=[{"role": "user", "content": "weather in Paris?"}])
    assert call.stop_reason == "tool_use"
    use = next(b for b in call.content if b.type == "tool_use")
    assert use.id.startswith("toolu_") and isinstance(use.input, dict) and "city" in use.input


def test_errors_and_faults_come_in_the_messages_shape(sim):
    client = messages_client(sim, "moonshot")
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model="no-such", max_tokens=4,
                               messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["type"] == "error"
    assert err.value.body["error"]["type"] == "not_found_error"
    wrong = anthropic.Anthropic(base_url=f"{sim}/moonshot/global/anthropic", api_key="nope",
                                max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(model="kimi-k2.5", max_tokens=4,
                              messages=[{"role": "user", "content": "hi"}])
    fault = httpx.put(f"{sim}/_sim/faults/moonshot/global", json={"kind": "server_error", "count": 1})
    assert fault.status_code < 300, fault.text
    with pytest.raises(anthropic.InternalServerError) as err:
        client.messages.create(model="kimi-k2.5", max_tokens=4,
                               messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["error"]["type"] == "api_error"
    assert client.messages.create(model="kimi-k2.5", max_tokens=4,
                                  messages=[{"role": "user", "content": "hi"}]).usage.output_tokens == 4


def test_embeddings_where_the_vendor_has_them(sim):
    qwen = openai.OpenAI(base_url=f"{sim}/dashscope/singapore/compatible-mode/v1",
                         api_key="sim-key", max_retries=0)
    r = qwen.embeddings.create(model="text-embedding-v4", input=["a", "b"], dimensions=512,
                               encoding_format="float")
    assert [len(d.embedding) for d in r.data] == [512, 512]
    with pytest.raises(openai.BadRequestError):
        qwen.embeddings.create(model="text-embedding-v4", input=["x"] * 11,
                               encoding_format="float")
    glm = openai.OpenAI(base_url=f"{sim}/zhipu/global/api/paas/v4", api_key="sim-key",
                        max_retries=0)
    assert len(glm.embeddings.create(model="embedding-3", input="a",
                                     encoding_format="float").data[0].embedding) == 2048
    deepseek = openai.OpenAI(base_url=f"{sim}/deepseek/global/v1", api_key="sim-key",
                             max_retries=0)
    with pytest.raises(openai.NotFoundError):
        deepseek.embeddings.create(model="text-embedding-v4", input="a", encoding_format="float")
