"""One model, many vendors, through the stock openai SDK against `switchyard serve` on the
embedded default: DeepSeek V3.2 is deployed at DeepSeek (two regions) and at SiliconFlow.
With DeepSeek's whole platform down in the simulator (every region), requests for it,
whole and streamed, are answered by SiliconFlow and billed at SiliconFlow's price; a model
DeepSeek alone sells fails, which shows the vendor really was down. The resellers' own
models answer in their dialects: MiniMax's thinking comes back apart from the answer, and
Doubao (Volcengine Ark) is served at its prompt-length tier."""

import re
from decimal import Decimal

import httpx
import pytest

from support import start_gateway

MODEL = "deepseek-v3.2"
# SiliconFlow's list price for it (crates/catalog/data/catalog.toml), USD per 1M tokens.
SILICONFLOW = {"input": Decimal("0.27"), "cached_input": Decimal("0.135"), "output": Decimal("0.42")}
# DeepSeek's own, which must not be what the request is billed at.
DEEPSEEK = {"input": Decimal("0.28"), "cached_input": Decimal("0.028"), "output": Decimal("0.42")}


def nanos(usage, price) -> int:
    """The bill of `usage` at `price`, in nano-dollars (USD per 1M tokens is nano-dollars per
    thousandth of a token: 1 token at $1/M is 1,000 nanos)."""
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    cost = ((usage.prompt_tokens - cached) * price["input"] + cached * price["cached_input"]
            + usage.completion_tokens * price["output"]) * 1000
    return int(cost.to_integral_value())


@pytest.fixture
def gw():
    g = start_gateway()
    try:
        yield g
    finally:
        g.stop()


def sim_url(gw) -> str:
    return re.search(r"simulator: (http://\S+)", gw.output("stdout")).group(1)


def record_of(gw, request_id: str) -> dict:
    """The request's usage record, from its trail."""
    [trail] = gw.http.get(f"/admin/requests/{request_id}").json()["trails"]
    [record] = trail["records"]
    return record


def test_a_whole_vendor_down_moves_a_multi_vendor_model_to_another_vendor_billed_at_its_price(gw):
    fault = httpx.put(f"{sim_url(gw)}/_sim/faults/deepseek/*", json={"kind": "server_error"})
    assert fault.status_code == 200, fault.text
    ask = [{"role": "user", "content": "Name three rivers of China."}]

    raw = gw.client.chat.completions.with_raw_response.create(model=MODEL, messages=ask, max_tokens=64)
    answer = raw.parse()
    assert answer.choices[0].message.content
    assert raw.headers["x-switchyard-provider"] == "siliconflow"
    billed = round(Decimal(raw.headers["x-switchyard-cost-usd"]) * 10**9)
    assert billed == nanos(answer.usage, SILICONFLOW) > 0
    assert billed != nanos(answer.usage, DEEPSEEK), "not the maker's price"
    record = record_of(gw, raw.headers["x-request-id"])
    assert (record["provider"], record["cost_nanos"]) == ("siliconflow", billed)

    raw = gw.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "And three mountains?"}], max_tokens=64,
        stream=True, stream_options={"include_usage": True})
    assert raw.headers["x-switchyard-provider"] == "siliconflow"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text and usage and usage.completion_tokens > 0
    record = record_of(gw, raw.headers["x-request-id"])
    assert record["provider"] == "siliconflow"
    assert record["cost_nanos"] == nanos(usage, SILICONFLOW)

    # A model only DeepSeek sells has nowhere else to go.
    with pytest.raises(Exception) as refused:
        gw.client.chat.completions.create(model="deepseek-v4-flash", messages=ask, max_tokens=8)
    assert getattr(refused.value, "status_code", 0) >= 500


def test_while_the_maker_is_up_it_serves_at_its_own_price(gw):
    raw = gw.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], max_tokens=16)
    assert raw.headers["x-switchyard-provider"] == "deepseek"
    assert raw.headers["x-switchyard-region"].startswith("global")


def test_minimax_thinking_comes_back_apart_from_the_answer(gw):
    ask = [{"role": "user", "content": "Think, then say hi."}]
    whole = gw.client.chat.completions.create(model="minimax-m2", messages=ask, max_tokens=200)
    message = whole.choices[0].message
    assert "<think>" not in (message.content or "")
    assert getattr(message, "reasoning_content", None)
    stream = gw.client.chat.completions.create(model="minimax-m2", messages=ask, max_tokens=200, stream=True)
    content, reasoning = "", ""
    for c in stream:
        if c.choices:
            content += c.choices[0].delta.content or ""
            reasoning += getattr(c.choices[0].delta, "reasoning_content", None) or ""
    assert reasoning and "<think>" not in content


def test_doubao_is_billed_at_its_prompt_length_tier(gw):
    short = gw.client.chat.completions.with_raw_response.create(
        model="doubao-seed-1.6", messages=[{"role": "user", "content": "hi"}], max_tokens=8,
        extra_body={"ignore_eos": True, "thinking": {"type": "disabled"}})
    assert short.headers["x-switchyard-provider"] == "ark"
    usage = short.parse().usage
    tier0 = {"input": Decimal("0.111"), "cached_input": Decimal("0.022"), "output": Decimal("1.111")}
    assert round(Decimal(short.headers["x-switchyard-cost-usd"]) * 10**9) == nanos(usage, tier0)
    # Past 32K prompt tokens the next tier's prices apply.
    long_prompt = "word " * 40_000
    long = gw.client.chat.completions.with_raw_response.create(
        model="doubao-seed-1.6", messages=[{"role": "user", "content": long_prompt}], max_tokens=8,
        extra_body={"ignore_eos": True, "thinking": {"type": "disabled"}})
    usage = long.parse().usage
    assert usage.prompt_tokens > 32_768
    tier1 = {"input": Decimal("0.167"), "cached_input": Decimal("0.022"), "output": Decimal("2.222")}
    assert round(Decimal(long.headers["x-switchyard-cost-usd"]) * 10**9) == nanos(usage, tier1)


def test_models_vendors_shows_who_sells_what_at_what_price():
    import json
    import subprocess

    from support import child_env, gateway_bin

    table = subprocess.run([str(gateway_bin()), "models", "--vendors"], capture_output=True, text=True,
                           env=child_env(), timeout=30)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    own = next(i for i, line in enumerate(lines) if line.startswith("deepseek-v3.2 "))
    assert lines[own + 1].split()[:5] == ["siliconflow", "deepseek-ai/DeepSeek-V3.2", "0.27", "0.135", "0.42"]
    listed = subprocess.run([str(gateway_bin()), "models", "--vendors", "--json"], capture_output=True,
                            text=True, env=child_env(), timeout=30)
    assert listed.returncode == 0, listed.stderr
    by_model = {m["model"]: m["vendors"] for m in json.loads(listed.stdout)}
    assert [v["provider"] for v in by_model["minimax-m2"]] == ["minimax", "openrouter"]
    assert by_model["doubao-seed-1.6"][0]["price"]["tiers"][0]["above_prompt_tokens"] == 32768


def test_a_messages_request_for_a_multi_vendor_model_is_translated_and_survives_the_outage(gw):
    """SiliconFlow has no Anthropic-compatible endpoint, so a Messages request for a model
    deployed there too is translated for every deployment; with DeepSeek down it is
    answered by SiliconFlow, in the Messages API's own shape."""
    import anthropic

    assert httpx.put(f"{sim_url(gw)}/_sim/faults/deepseek/*", json={"kind": "overloaded"}).status_code == 200
    client = anthropic.Anthropic(base_url=gw.base_url.removesuffix("/v1"), api_key="unused",
                                 max_retries=0, timeout=30)
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "Say hello."}])
    assert raw.headers["x-switchyard-provider"] == "siliconflow"
    assert "x-switchyard-upstream-api" not in raw.headers, "translated, not passed through"
    message = raw.parse()
    assert message.type == "message" and message.content[0].type == "text"
    assert message.usage.output_tokens > 0
    with client.messages.stream(model=MODEL, max_tokens=64,
                                messages=[{"role": "user", "content": "And goodbye."}]) as stream:
        final = stream.get_final_message()
    assert final.content and final.usage.output_tokens > 0
