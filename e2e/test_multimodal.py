"""Image and audio content parts reach the models that take them."""

from __future__ import annotations

import pytest

from support import AUDIO_MODEL, VISION_MODELS, tiny_png_data_uri, tiny_wav_b64

IMAGE_SOURCES = {
    "data-uri-png": tiny_png_data_uri(),
    # Never fetched: the simulated providers only look at the part's shape.
    "https-url": "https://example.com/images/switchyard.png",
}


def image_message(url: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ],
        }
    ]


def audio_message() -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Transcribe this clip."},
                {"type": "input_audio", "input_audio": {"data": tiny_wav_b64(), "format": "wav"}},
            ],
        }
    ]


@pytest.mark.parametrize("source", list(IMAGE_SOURCES))
@pytest.mark.parametrize("model", VISION_MODELS)
def test_image_part_accepted_by_vision_model(gateway, model, source):
    resp = gateway.client.chat.completions.create(
        model=model, messages=image_message(IMAGE_SOURCES[source]), max_tokens=16
    )
    assert resp.model == model
    assert (resp.choices[0].message.content or "").strip()
    usage = resp.usage
    assert usage.completion_tokens == 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_image_part_accepted_by_vision_model_when_streaming(gateway):
    stream = gateway.client.chat.completions.create(
        model="qwen3-vl-32b",
        messages=image_message(IMAGE_SOURCES["data-uri-png"]),
        max_tokens=8,
        stream=True,
    )
    with stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.strip()


def test_input_audio_part_accepted_by_omni_model(gateway):
    resp = gateway.client.chat.completions.create(
        model=AUDIO_MODEL, messages=audio_message(), max_tokens=16
    )
    assert resp.model == AUDIO_MODEL
    assert (resp.choices[0].message.content or "").strip()
    assert resp.usage.completion_tokens == 16


def test_omni_model_accepts_image_and_audio_together(gateway):
    messages = audio_message()
    messages[0]["content"].append(
        {"type": "image_url", "image_url": {"url": IMAGE_SOURCES["data-uri-png"]}}
    )
    resp = gateway.client.chat.completions.create(
        model=AUDIO_MODEL, messages=messages, max_tokens=8
    )
    assert (resp.choices[0].message.content or "").strip()
