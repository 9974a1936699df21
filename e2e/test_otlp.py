"""OpenTelemetry trace export (`[telemetry] otlp_endpoint`) into a real OTLP/HTTP
receiver: an `http.server` in this process that decodes each `ExportTraceServiceRequest`
with the `opentelemetry-proto` package. A request sent by the openai SDK with a client
`traceparent` fails over once (its first deployment answers 500): the receiver must get
the request's span under the client's, with the routing decision and both attempts as
children, and the GenAI attributes of what was asked and answered."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from support import Gateway

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
DEADLINE_S = 15.0

# deepseek in two regions, in that order; the first answers every request with a 500,
# so each request fails over to the second exactly once.
CONFIG = """
[telemetry]
otlp_endpoint = "{endpoint}"
service_name = "switchyard-e2e"
otlp_headers = {{ x-tenant = "e2e" }}

[simulator]
time_scale = 0

[[simulator.faults]]
provider = "deepseek"
region = "global"
kind = "server_error"

[providers.deepseek]
simulated = true
regions = [{{ name = "global" }}, {{ name = "cn" }}]
"""


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1:<free port>: keeps every span it is
    sent (with its resource attributes) and each request's headers."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, Any], Span]] = []
        self.headers: list[dict[str, str]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    if self.path != "/v1/traces":
                        raise ValueError(f"posted to {self.path}")
                    if self.headers.get("content-type") != "application/x-protobuf":
                        raise ValueError(f"content-type {self.headers.get('content-type')}")
                    req = ExportTraceServiceRequest.FromString(body)
                except Exception as exc:  # the test reports it
                    with receiver._lock:
                        receiver.errors.append(str(exc))
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                    for rs in req.resource_spans:
                        resource = _attrs(rs.resource.attributes)
                        for ss in rs.scope_spans:
                            receiver.spans.extend((resource, s) for s in ss.spans)
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, what: str, check: Callable[[list[Span]], Any]) -> Any:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            with self._lock:
                got = check([s for _, s in self.spans])
                errors = list(self.errors)
            assert not errors, f"the receiver could not decode an export: {errors}"
            if got:
                return got
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def _trace_of(spans: list[Span], trace_id: str) -> list[Span]:
    return [s for s in spans if s.trace_id.hex() == trace_id]


def test_a_request_that_failed_over_once_is_exported_as_a_span_tree_with_genai_attributes(
        receiver: Receiver, start_gateway_with_config: Callable[[str], Gateway]):
    gw = start_gateway_with_config(CONFIG.format(endpoint=receiver.endpoint))
    assert f"traces: OTLP/HTTP to {receiver.endpoint}/v1/traces" in gw.output("stdout")
    raw = gw.client.chat.completions.with_raw_response.create(
        model="ds-v4-flash",  # an alias: the answer names the catalog model
        messages=[{"role": "user", "content": "hello there"}],
        max_tokens=16,
        temperature=0.3,
        extra_headers={"traceparent": TRACEPARENT},
    )
    completion = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert completion.usage is not None

    spans = receiver.wait_for(
        "the request's four spans",
        lambda all_spans: (t := _trace_of(all_spans, CLIENT_TRACE)) and len(t) >= 4 and t)
    assert len(spans) == 4, [s.name for s in spans]
    root = next(s for s in spans if s.kind == Span.SPAN_KIND_SERVER)
    children = [s for s in spans if s is not root]

    # The request's span joins the client's trace, under the client's span.
    assert root.parent_span_id.hex() == CLIENT_SPAN
    assert root.name == "chat ds-v4-flash"
    assert all(s.parent_span_id == root.span_id for s in children)
    assert len({s.span_id for s in spans}) == 4
    assert all(root.start_time_unix_nano <= s.start_time_unix_nano
               and s.end_time_unix_nano <= root.end_time_unix_nano for s in children)

    a = _attrs(root.attributes)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.system"] == "deepseek"
    assert a["gen_ai.request.model"] == "ds-v4-flash"
    assert a["gen_ai.response.model"] == "deepseek-v4-flash" == completion.model
    assert a["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert a["gen_ai.request.max_tokens"] == 16
    assert a["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert a["http.response.status_code"] == 200
    assert a["switchyard.request_id"] == request_id
    assert a["switchyard.cost_usd"] == pytest.approx(float(raw.headers["x-switchyard-cost-usd"]))
    assert "error.type" not in a
    assert root.status.code != Status.STATUS_CODE_ERROR

    # The routing decision, then the two attempts in the order they were sent.
    route = next(s for s in children if s.name == "route")
    r = _attrs(route.attributes)
    assert r["switchyard.model"] == "deepseek-v4-flash"
    assert r["switchyard.route.deployments"] == ["deepseek-v4-flash/global", "deepseek-v4-flash/cn"]
    first, second = sorted((s for s in children if s is not route),
                           key=lambda s: s.start_time_unix_nano)
    assert route.end_time_unix_nano <= first.start_time_unix_nano
    f, s = _attrs(first.attributes), _attrs(second.attributes)
    assert first.kind == second.kind == Span.SPAN_KIND_CLIENT
    assert first.name == "chat deepseek-v4-flash global"
    assert (f["switchyard.deployment"], f["switchyard.attempt.reason"], f["switchyard.attempt.fate"]) \
        == ("global", "first", "failed")
    assert first.status.code == Status.STATUS_CODE_ERROR and first.status.message
    assert f["http.response.status_code"] == 500
    assert f["error.type"] == "upstream_server_error"
    assert (s["switchyard.deployment"], s["switchyard.attempt.reason"], s["switchyard.attempt.fate"]) \
        == ("cn", "failover", "answered")
    assert second.status.code != Status.STATUS_CODE_ERROR
    assert s["gen_ai.system"] == "deepseek"
    assert s["gen_ai.response.model"] == "deepseek-v4-flash"
    assert s["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert first.end_time_unix_nano <= second.start_time_unix_nano

    # The exporter names the service, and sends the configured headers.
    resource = next(res for res, sp in receiver.spans if sp.span_id == root.span_id)
    assert resource["service.name"] == "switchyard-e2e"
    assert receiver.headers[0]["x-tenant"] == "e2e"

    # The trail names the same trace, and each attempt's span.
    trail = gw.http.get(f"/admin/requests/{request_id}").json()["trails"][0]
    assert trail["trace_id"] == CLIENT_TRACE
    assert trail["span_id"] == root.span_id.hex()
    assert trail["parent_span_id"] == CLIENT_SPAN
    assert [(x["reason"], x["span_id"]) for x in trail["attempts"]] == [
        ("first", first.span_id.hex()), ("failover", second.span_id.hex())]


def test_spans_still_queued_at_shutdown_are_sent_before_the_gateway_exits(
        receiver: Receiver, start_gateway_with_config: Callable[[str], Gateway]):
    gw = start_gateway_with_config(CONFIG.format(endpoint=receiver.endpoint))
    raw = gw.client.chat.completions.with_raw_response.create(
        model="deepseek-v4-flash", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    request_id = raw.headers["x-request-id"]
    trace_id = gw.http.get(f"/admin/requests/{request_id}").json()["trails"][0]["trace_id"]
    # Stopped at once, inside the export's batching delay: the exit flushes it.
    assert gw.stop() == 0
    spans = receiver.wait_for("the spans flushed at exit",
                              lambda all_spans: _trace_of(all_spans, trace_id))
    assert len(spans) == 4
    root = next(s for s in spans if s.kind == Span.SPAN_KIND_SERVER)
    assert root.parent_span_id == b""  # no client trace: a new one starts here
