"""Every bad input gets an OpenAI-shaped error with the right status and code:
{"error": {"message": str, "type": str, "param": str|null, "code": str}}."""

from __future__ import annotations

import json
import subprocess
import textwrap

import openai
import pytest

import support
from support import assert_error, raw_post, tiny_png_data_uri, tiny_wav_b64

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hello"}]
GOOD_BODY = {"model": "deepseek-v4-flash", "messages": USER, "max_tokens": 8}

DEAD_UPSTREAM_CONFIG = textwrap.dedent(
    """\
    [providers.deadhost]
    dialect = "openai"
    api_key = "x"
    regions = [{ name = "local", base_url = "http://127.0.0.1:9/v1" }]

    [[models]]
    id = "dead-model"
    provider = "deadhost"
    upstream_id = "dead-model"
    family = "test"
    context_window = 8192
    max_output = 1024
    capabilities = ["text"]
    price = { input = 1.0, cached_input = 0.1, output = 2.0, as_of = "2026-11-01", source = "test" }
    """
)


def sdk_error(call) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        call()
    return info.value


# ---------------------------------------------------------------------------- body parsing
def test_invalid_json_body_is_400_invalid_json(gateway):
    resp = gateway.http.post(
        CHAT,
        content=b'{"model": "deepseek-v4-flash", "messages": [',
        headers={"Content-Type": "application/json"},
    )
    assert_error(resp, 400, "invalid_json")


def test_text_plain_content_type_is_415(gateway):
    resp = gateway.http.post(
        CHAT, content=json.dumps(GOOD_BODY).encode(), headers={"Content-Type": "text/plain"}
    )
    assert_error(resp, 415, "unsupported_media_type")


def test_missing_model_is_400_missing_required_parameter(gateway):
    resp = gateway.http.post(CHAT, json={"messages": USER})
    err = assert_error(resp, 400, "missing_required_parameter")
    assert "model" in err["message"] or err["param"] == "model", err


def test_unknown_model_is_404_with_suggestion(gateway):
    exc = sdk_error(
        lambda: gateway.client.chat.completions.create(model="qwen3-23b", messages=USER)
    )
    assert isinstance(exc, openai.NotFoundError)
    assert exc.code == "model_not_found"
    err = assert_error(exc.response, 404, "model_not_found")
    assert "did you mean" in err["message"].lower(), err
    assert "qwen3-32b" in err["message"], err


def test_empty_messages_is_400_invalid_value(gateway):
    exc = sdk_error(
        lambda: gateway.client.chat.completions.create(model="deepseek-v4-flash", messages=[])
    )
    assert isinstance(exc, openai.BadRequestError)
    assert_error(exc.response, 400, "invalid_value")


@pytest.mark.parametrize(
    "field,value",
    [("messages", "hello there"), ("max_tokens", "ten"), ("temperature", "hot")],
)
def test_wrong_type_is_400_invalid_type_naming_the_field(gateway, field, value):
    resp = gateway.http.post(CHAT, json={**GOOD_BODY, field: value})
    err = assert_error(resp, 400, "invalid_type")
    assert field in err["message"], f"message does not name {field!r}: {err}"


def test_body_over_limit_is_413_and_gateway_survives(gateway):
    filler = "a" * (11 * 1024 * 1024)
    body = json.dumps(
        {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": filler}]}
    ).encode()
    resp = raw_post("127.0.0.1", gateway.port, CHAT, body)
    assert_error(resp, 413, "request_too_large")
    assert gateway.http.get("/healthz").status_code == 200
    ok = gateway.client.chat.completions.create(**GOOD_BODY)
    assert ok.choices[0].message.content


@pytest.mark.parametrize("method,path", [("GET", "/v1/nope"), ("POST", "/v1/nope"), ("GET", "/nope")])
def test_unknown_route_is_404_unknown_route(gateway, method, path):
    resp = gateway.http.request(method, path, json={} if method == "POST" else None)
    assert_error(resp, 404, "unknown_route")


# ---------------------------------------------------------------------------- capabilities
def test_image_to_text_only_model_is_400_unsupported_capability(gateway):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": tiny_png_data_uri()}},
            ],
        }
    ]
    exc = sdk_error(
        lambda: gateway.client.chat.completions.create(
            model="deepseek-v4-flash", messages=messages, max_tokens=8
        )
    )
    assert_error(exc.response, 400, "unsupported_capability")
    # Streaming requests are rejected the same way, before any event is sent.
    exc = sdk_error(
        lambda: gateway.client.chat.completions.create(
            model="deepseek-v4-flash", messages=messages, max_tokens=8, stream=True
        )
    )
    assert_error(exc.response, 400, "unsupported_capability")


def test_audio_to_model_without_audio_is_400_unsupported_capability(gateway):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "input_audio", "input_audio": {"data": tiny_wav_b64(), "format": "wav"}}
            ],
        }
    ]
    exc = sdk_error(
        lambda: gateway.client.chat.completions.create(
            model="qwen3-vl-32b", messages=messages, max_tokens=8
        )
    )
    assert_error(exc.response, 400, "unsupported_capability")


# ---------------------------------------------------------------------------- upstreams
def test_unreachable_upstream_is_502(start_gateway_with_config):
    gw = start_gateway_with_config(DEAD_UPSTREAM_CONFIG)
    exc = sdk_error(lambda: gw.client.chat.completions.create(model="dead-model", messages=USER))
    assert isinstance(exc, openai.InternalServerError)
    assert_error(exc.response, 502, "upstream_unreachable")
    # A stream fails the same way, before it starts.
    exc = sdk_error(
        lambda: gw.client.chat.completions.create(model="dead-model", messages=USER, stream=True)
    )
    assert_error(exc.response, 502, "upstream_unreachable")
    # The gateway itself stays up.
    assert gw.http.get("/healthz").status_code == 200
    assert gw.alive()


def test_config_models_join_the_catalog(start_gateway_with_config):
    gw = start_gateway_with_config(DEAD_UPSTREAM_CONFIG)
    ids = {m.id for m in gw.client.models.list()}
    assert "dead-model" in ids
    assert "deepseek-v4-flash" in ids


def test_builtin_provider_without_key_is_503_provider_not_configured(start_gateway_with_config):
    gw = start_gateway_with_config(DEAD_UPSTREAM_CONFIG)
    exc = sdk_error(
        lambda: gw.client.chat.completions.create(model="deepseek-v4-flash", messages=USER)
    )
    assert isinstance(exc, openai.InternalServerError)
    assert_error(exc.response, 503, "provider_not_configured")


# ---------------------------------------------------------------------------- config
def test_bad_config_exits_nonzero_naming_the_line(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nlisten = 42\n", encoding="utf-8")
    proc = subprocess.run(
        [str(support.gateway_bin()), "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=support.child_env(),
        timeout=20,
    )
    assert proc.returncode != 0, f"bad config accepted:\n{proc.stdout}\n{proc.stderr}"
    assert "line 2" in proc.stderr, f"stderr does not name line 2:\n{proc.stderr}"
    assert "switchyard listening on" not in proc.stdout
