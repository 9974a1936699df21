"""Helpers shared by the e2e tests: the gateway process, error checks, tiny media,
SSE and Prometheus parsing, and a raw-socket HTTP client for oversized bodies.

The tests import this module as ``support`` (pytest puts e2e/ on sys.path).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import wave
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import httpx
import openai

REPO_ROOT = Path(__file__).resolve().parent.parent

# The catalog of the embedded default configuration (canonical ids).
CATALOG = (
    "deepseek-v4-flash",
    "deepseek-r1",
    "deepseek-v3.2",
    "qwen3-32b",
    "qwen3-vl-32b",
    "qwen3-omni-30b",
    "kimi-k2.5",
    "glm-4.5-flash",
    "glm-4.6v",
)
# One model of each family: DeepSeek, Qwen/DashScope, Kimi/Moonshot, GLM/Zhipu.
ONE_PER_FAMILY = ("deepseek-v4-flash", "qwen3-32b", "kimi-k2.5", "glm-4.5-flash")
# Models that think before answering; their reasoning tokens count inside
# completion_tokens, so a small max_tokens may leave no room for content.
REASONING_MODELS = frozenset({"deepseek-r1", "kimi-k2.5"})
VISION_MODELS = ("qwen3-vl-32b", "glm-4.6v")
AUDIO_MODEL = "qwen3-omni-30b"

# Keys that would make the gateway talk to real vendors.
STRIPPED_ENV = (
    "DEEPSEEK_API_KEY",
    "DASHSCOPE_API_KEY",
    "MOONSHOT_API_KEY",
    "ZHIPUAI_API_KEY",
    "ARK_API_KEY",
    "SILICONFLOW_API_KEY",
    "MINIMAX_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
)
SIM_TIME_SCALE = "0.02"
STARTUP_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0
LISTEN_RE = re.compile(r"switchyard (?:sim )?listening on (http://127\.0\.0\.1:(\d+))")
LOCAL_HOSTS = "127.0.0.1,localhost,::1"
# Where the gateways of this test run write their usage log (see child_env).
DATA_DIR = tempfile.mkdtemp(prefix="switchyard-e2e-")


def no_proxy_env(env: dict[str, str]) -> dict[str, str]:
    """Make sure loopback traffic never goes through an HTTP proxy."""
    for key in ("NO_PROXY", "no_proxy"):
        current = env.get(key, "")
        env[key] = f"{current},{LOCAL_HOSTS}" if current else LOCAL_HOSTS
    return env


def gateway_bin() -> Path:
    explicit = os.environ.get("SWITCHYARD_BIN")
    path = Path(explicit) if explicit else REPO_ROOT / "target" / "debug" / "switchyard"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"switchyard binary not found at {path}; run scripts/test, or "
            "`cargo build -p switchyard` and set SWITCHYARD_BIN"
        )
    return path


def child_env() -> dict[str, str]:
    """The environment for the gateway: no vendor keys, no SWITCHYARD_* settings
    leaking in from the caller's shell, loopback exempt from proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in STRIPPED_ENV and not k.startswith("SWITCHYARD_")
    }
    env.setdefault("RUST_BACKTRACE", "1")
    # The usage log goes to a directory of this test run, never the user's own.
    env["SWITCHYARD_DATA_DIR"] = DATA_DIR
    return no_proxy_env(env)


class GatewayStartError(RuntimeError):
    pass


class Gateway:
    """A running `switchyard serve` child process.

    stdout and stderr are drained by threads for the life of the process (so the
    pipes never fill) and kept in ``self.lines`` for diagnostics.
    """

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.lines: list[tuple[str, str]] = []  # (stream name, line)
        self._cond = threading.Condition()
        self._eof = {"stdout": False, "stderr": False}
        self.root_url: str | None = None
        self.port: int | None = None
        self._client: openai.OpenAI | None = None
        self._http: httpx.Client | None = None
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else child_env(),
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self._threads = [
            threading.Thread(target=self._pump, args=("stdout", self.proc.stdout), daemon=True),
            threading.Thread(target=self._pump, args=("stderr", self.proc.stderr), daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- output ---------------------------------------------------------------
    def _pump(self, name: str, pipe: Any) -> None:
        try:
            for line in pipe:
                line = line.rstrip("\n")
                with self._cond:
                    self.lines.append((name, line))
                    if name == "stdout" and self.root_url is None:
                        m = LISTEN_RE.search(line)
                        if m:
                            self.root_url = m.group(1)
                            self.port = int(m.group(2))
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._eof[name] = True
                self._cond.notify_all()

    def output(self, stream: str | None = None) -> str:
        with self._cond:
            return "\n".join(
                f"[{name}] {line}" if stream is None else line
                for name, line in self.lines
                if stream is None or name == stream
            )

    def tail(self, n: int = 60) -> str:
        with self._cond:
            lines = self.lines[-n:]
        return "\n".join(f"[{name}] {line}" for name, line in lines)

    # -- lifecycle ------------------------------------------------------------
    def wait_listening(self, timeout: float = STARTUP_TIMEOUT_S) -> "Gateway":
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.root_url is None:
                if self._eof["stdout"]:
                    break  # stdout closed: the process is gone or will never say it
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.2))
        if self.root_url is None:
            rc = self.proc.poll()
            self.stop()
            state = f"exited with code {rc}" if rc is not None else f"no listen line within {timeout:.0f}s"
            raise GatewayStartError(
                f"switchyard did not start ({state}).\ncommand: {' '.join(self.argv)}\n"
                f"--- captured output ---\n{self.output()}"
            )
        return self

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        for c in (self._client, self._http):
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
        if self.proc.poll() is None:
            try:
                # Ctrl-C: the drain takes no new connections (SIGTERM would keep the
                # listener open for drain_accept_secs, for a load balancer to notice).
                self.proc.send_signal(signal.SIGINT)
                self.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_GRACE_S)
            except ProcessLookupError:
                pass
        for t in self._threads:
            t.join(timeout=2)
        return self.proc.returncode

    # -- clients --------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self.root_url is not None, "gateway is not listening"
        return f"{self.root_url}/v1"

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key="test-key", max_retries=0, timeout=30
            )
        return self._client

    @property
    def http(self) -> httpx.Client:
        """A plain HTTP client rooted at http://127.0.0.1:PORT (no /v1)."""
        if self._http is None:
            assert self.root_url is not None, "gateway is not listening"
            self._http = httpx.Client(
                base_url=self.root_url,
                timeout=30,
                trust_env=False,
                headers={"Authorization": "Bearer test-key"},
            )
        return self._http


def create_key(config: Path, name: str, *limits: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`switchyard keys create --name NAME LIMITS… --config CONFIG --json`: the new key's
    `{"key": secret, "record": {...}}`."""
    made = subprocess.run([str(gateway_bin()), "keys", "create", "--name", name, *limits,
                           "--config", str(config), "--json"], capture_output=True, text=True,
                          env=env if env is not None else child_env(), timeout=30)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)


def keyed_gateway(tmp_path: Path, config_text: str,
                  keys: dict[str, tuple[str, ...]]) -> tuple[Gateway, dict[str, str], dict[str, str]]:
    """A gateway on `config_text` with its data (keys, usage log) in `tmp_path`, and the
    gateway keys `keys` (name: `keys create` limits) made before it starts. Returns the
    running gateway, each key's secret by name, and the environment that `switchyard
    usage` and `keys` need to find the same data."""
    env = child_env()
    env["SWITCHYARD_DATA_DIR"] = str(tmp_path)
    cfg = tmp_path / "switchyard.toml"
    cfg.write_text(config_text, encoding="utf-8")
    secrets = {name: create_key(cfg, name, *limits, env=env)["key"] for name, limits in keys.items()}
    gw = Gateway([str(gateway_bin()), "serve", "--config", str(cfg)], env=env).wait_listening()
    return gw, secrets, env


def usage_by(env: dict[str, str], by: str = "endpoint") -> dict[str, dict[str, Any]]:
    """`switchyard usage --by BY --json`, as rows by group."""
    report = subprocess.run([str(gateway_bin()), "usage", "--by", by, "--json"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert report.returncode == 0, report.stderr
    return {r["group"]: r for r in json.loads(report.stdout)}


def attempts_of(gw: Gateway, request_id: str) -> list[tuple[str, str]]:
    """(region, fate) of each upstream attempt in a request's trail, in order."""
    [trail] = gw.http.get(f"/admin/requests/{request_id}").json()["trails"]
    return [(a["region"], a["fate"]) for a in trail["attempts"]]


def start_gateway(extra_args: Iterable[str] = (), config_path: Path | None = None) -> Gateway:
    argv = [
        str(gateway_bin()),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--sim-time-scale",
        SIM_TIME_SCALE,
    ]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    argv += list(extra_args)
    return Gateway(argv).wait_listening()


# ---------------------------------------------------------------------------- errors
ERROR_KEYS = {"message", "type", "param", "code"}


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """Check an error response (httpx / httpx2 Response or RawResponse) has the
    OpenAI error shape with the given status and code; return the error object."""
    text = resp.text
    assert resp.status_code == status, (
        f"expected HTTP {status} ({code}), got {resp.status_code}: {text[:1000]}"
    )
    ctype = resp.headers.get("content-type", "")
    assert ctype.startswith("application/json"), f"error content-type is {ctype!r}: {text[:500]}"
    body = json.loads(text)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not an error object: {body}"
    err = body["error"]
    missing = ERROR_KEYS - err.keys()
    assert not missing, f"error object lacks {sorted(missing)}: {err}"
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and err["type"], err
    assert err["param"] is None or isinstance(err["param"], str), err
    assert err["code"] == code, f"expected code {code!r}, got {err['code']!r}: {err}"
    return err


# ---------------------------------------------------------------------------- media
def tiny_png() -> bytes:
    """A valid 1x1 red RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def tiny_png_data_uri() -> str:
    return "data:image/png;base64," + base64.b64encode(tiny_png()).decode("ascii")


def tiny_wav_b64() -> str:
    """0.1 s of 8 kHz mono 16-bit silence as a base64 WAV."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------- SSE
def sse_data_lines(lines: Iterable[str]) -> Iterable[str]:
    """Yield the payload of each `data:` line of an SSE stream."""
    for line in lines:
        if line.startswith("data:"):
            yield line[5:].strip()


# ---------------------------------------------------------------------------- Prometheus
_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Sample:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    value: float = 0.0


def parse_prometheus(text: str) -> list[Sample]:
    samples = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"unparseable metrics line: {raw!r}"
        labels = dict(_LABEL_RE.findall(m.group(2) or ""))
        samples.append(Sample(m.group(1), labels, float(m.group(3))))
    return samples


def metric_sum(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


# ---------------------------------------------------------------------------- raw HTTP
@dataclass
class RawResponse:
    status_code: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def raw_post(host: str, port: int, path: str, body: bytes, content_type: str = "application/json",
             timeout: float = 30.0) -> RawResponse:
    """POST over a bare socket, streaming the body in chunks and stopping as soon
    as the server answers (a server may reject an oversized body before reading
    it all; httpx would then lose the response to a reset connection)."""
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Authorization: Bearer test-key\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        sock.sendall(head)
        view = memoryview(body)
        sent = 0
        while sent < len(body):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server has answered early
            try:
                sent += sock.send(view[sent : sent + 65536])
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                break  # the server stopped reading; its answer should be waiting
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = _recv(sock, deadline)
            if not chunk:
                raise AssertionError(f"connection closed before response headers: {data!r}")
            data += chunk
        header_blob, rest = data.split(b"\r\n\r\n", 1)
        header_lines = header_blob.decode("latin-1").split("\r\n")
        status = int(header_lines[0].split()[1])
        headers = {}
        for h in header_lines[1:]:
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            need = int(headers["content-length"])
            while len(rest) < need:
                chunk = _recv(sock, deadline)
                if not chunk:
                    break
                rest += chunk
            payload = rest[:need]
        else:
            while True:
                chunk = _recv(sock, deadline)
                if not chunk:
                    break
                rest += chunk
            payload = _dechunk(rest) if "chunked" in headers.get("transfer-encoding", "") else rest
        return RawResponse(status, headers, payload.decode("utf-8", "replace"))
    finally:
        sock.close()


def _recv(sock: socket.socket, deadline: float) -> bytes:
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out
