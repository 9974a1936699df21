"""`POST /v1/embeddings` through the official `openai` SDK on the embedded default: the
catalog's embedding models in /v1/models, base64 (the SDK's default) and floats, batches
larger than a vendor takes split and put back in order, `dimensions`, errors in the
OpenAI shape, failover to another region, keys' limits and budgets, and usage rows with
their cost under the endpoint `embeddings`."""

from __future__ import annotations

import math
from pathlib import Path

import openai
import pytest

from support import assert_error, keyed_gateway, usage_by


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
                                    for x, y in zip(a, b))


def test_models_list_the_embedding_models_with_their_vectors(gateway):
    listed = {m["id"]: m for m in gateway.http.get("/v1/models").json()["data"]}
    v4 = listed["text-embedding-v4"]
    assert v4["type"] == "embedding"
    assert v4["embedding"]["dimensions"] == 1024
    assert 256 in v4["embedding"]["dimension_choices"]
    assert v4["embedding"]["max_batch"] == 10
    assert v4["price"]["input"] > 0 and v4["price"]["output"] == 0
    assert listed["embedding-3"]["type"] == "embedding"
    assert listed["deepseek-v4-flash"]["type"] == "chat"


def test_base64_and_float_answers_carry_the_same_unit_vectors(gateway):
    client = gateway.client
    as_b64 = client.embeddings.create(model="text-embedding-v4", input="the quick brown fox")
    as_float = client.embeddings.create(model="text-embedding-v4", input="the quick brown fox",
                                        encoding_format="float")
    a, b = as_b64.data[0].embedding, as_float.data[0].embedding
    assert len(a) == 1024
    assert close(a, b)
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, rel_tol=1e-4)
    assert as_float.model == "text-embedding-v4"
    assert as_float.usage.prompt_tokens > 0
    assert as_float.usage.total_tokens == as_float.usage.prompt_tokens


def test_a_batch_larger_than_the_vendor_takes_is_split_and_kept_in_order(gateway):
    texts = [f"document number {i}" for i in range(25)]  # DashScope takes 10 at a time
    raw = gateway.client.embeddings.with_raw_response.create(
        model="text-embedding-v4", input=texts, encoding_format="float")
    batch = raw.parse()
    assert [d.index for d in batch.data] == list(range(25))
    assert raw.headers["x-switchyard-attempts"] == "3"  # three batches, one attempt each
    for i in (0, 9, 10, 24):
        alone = gateway.client.embeddings.create(model="text-embedding-v4", input=texts[i],
                                                 encoding_format="float")
        assert close(batch.data[i].embedding, alone.data[0].embedding), i
    one_cost = float(raw.headers["x-switchyard-cost-usd"])
    assert one_cost > 0


def test_dimensions_choose_the_vector_length(gateway):
    r = gateway.client.embeddings.create(model="embedding-3", input=["a", "b"], dimensions=256)
    assert [len(d.embedding) for d in r.data] == [256, 256]
    default = gateway.client.embeddings.create(model="glm-embedding-3", input="a")
    assert len(default.data[0].embedding) == 2048
    assert default.model == "embedding-3"


def test_bad_requests_get_the_openai_error_shape(gateway):
    client = gateway.client
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="deepseek-v4-flash", input="x")
    assert err.value.body["param"] == "model" and "chat model" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="text-embedding-v4", input="x", dimensions=3)
    assert err.value.body["param"] == "dimensions"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-embedder", input="x")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="text-embedding-v4",
                                       messages=[{"role": "user", "content": "x"}])
    assert "/v1/embeddings" in err.value.body["message"]

    post = lambda body: gateway.http.post("/v1/embeddings", json=body)  # noqa: E731
    assert_error(post({"model": "text-embedding-v4", "input": [1, 2, 3]}), 400, "invalid_value")
    assert_error(post({"model": "text-embedding-v4", "input": []}), 400, "invalid_value")
    err = assert_error(post({"model": "text-embedding-v4", "input": ["ok", ""]}), 400,
                       "invalid_value")
    assert err["param"] == "input[1]"
    err = assert_error(post({"model": "text-embedding-v4", "input": "word " * 20000}), 400,
                       "invalid_value")
    assert "8192" in err["message"]
    assert_error(post({"input": "x"}), 400, "missing_required_parameter")
    assert_error(post({"model": "text-embedding-v4", "input": "x", "encoding_format": "hex"}),
                 400, "invalid_type")


FAILOVER = """
[simulator]
time_scale = 0

[[simulator.faults]]
provider = "dashscope"
region = "singapore"
kind = "server_error"

[providers.dashscope]
simulated = true
regions = [{ name = "singapore" }, { name = "beijing" }]
"""


def test_a_failing_region_is_passed_over(start_gateway_with_config):
    gw = start_gateway_with_config(FAILOVER)
    raw = gw.client.embeddings.with_raw_response.create(model="text-embedding-v4", input="hi")
    assert raw.headers["x-switchyard-region"] == "beijing"
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert len(raw.parse().data[0].embedding) == 1024


KEYED = """
[server]
listen = "127.0.0.1:0"

[keys]
enabled = true

[simulator]
time_scale = 0

[providers.dashscope]
simulated = true
regions = [{ name = "singapore" }]
"""


def test_keys_limits_and_budgets_apply_and_usage_is_logged_with_cost(tmp_path: Path):
    gw, keys, env = keyed_gateway(tmp_path, KEYED, {
        "rag": ("--models", "text-embedding-v4", "--rpm", "3"),
        "broke": ("--budget", "0.000000001", "--period", "day"),
    })
    rag, broke = keys["rag"], keys["broke"]
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=rag, max_retries=0)
        costs = []
        for text in ("one", "two " * 50):
            raw = client.embeddings.with_raw_response.create(model="text-embedding-v4", input=text)
            costs.append(round(float(raw.headers["x-switchyard-cost-usd"]) * 1e9))
            assert raw.headers["x-ratelimit-limit-requests"] == "3"
        with pytest.raises(openai.PermissionDeniedError):
            client.embeddings.create(model="embedding-3", input="x")
        client.embeddings.create(model="text-embedding-v4", input="three")
        with pytest.raises(openai.RateLimitError):
            client.embeddings.create(model="text-embedding-v4", input="four")
        poor = openai.OpenAI(base_url=gw.base_url, api_key=broke, max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            poor.embeddings.create(model="text-embedding-v4", input="x " * 100)
        assert err.value.status_code == 402
    finally:
        assert gw.stop() == 0
    rows = usage_by(env)
    assert rows["embeddings"]["requests"] == 3
    assert rows["embeddings"]["completion_tokens"] == 0
    assert rows["embeddings"]["cost_nanos"] >= sum(costs) > 0
