"""MCP protocol versions 2025-06-18, 2025-11-25 and 2026-07-28 are accepted
from clients, over stdio and over Streamable HTTP.

Driven with raw JSON-RPC rather than an SDK, so each revision's own wire
shape is what reaches the gateway: the 2025 revisions open with an
`initialize` handshake (and, over HTTP, carry `Mcp-Session-Id` and
`MCP-Protocol-Version`); 2026-07-28 has no handshake, and every request
carries its protocol version and client capabilities in `_meta` (over HTTP
also the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers)."""

import json
import os
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request

import anyio
import pytest

from conftest import EVERYTHING, HITL_MCP, TOKEN, free_port

pytestmark = pytest.mark.anyio

HANDSHAKE_VERSIONS = ["2025-06-18", "2025-11-25"]
INLINE_VERSION = "2026-07-28"
ALL_VERSIONS = [*HANDSHAKE_VERSIONS, INLINE_VERSION]
CLIENT_INFO = {"name": "protocol-versions-e2e", "version": "1.0.0"}


def inline_meta(version=INLINE_VERSION):
    """The per-request `_meta` of 2026-07-28 (SEP-2575)."""
    return {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    }


def gateway_env(bot_url):
    return dict(os.environ, HITL_APPROVAL_URL=bot_url, HITL_TOKEN=TOKEN, RUST_LOG="warn")


def hold_echo(tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text('[[rule]]\nname = "hold-echo"\ntool = "echo"\nrisk = "high"\naction = "require_approval"\n')
    return str(config)


# --- stdio: newline-delimited JSON-RPC ---------------------------------------------


class StdioGateway:
    """`hitl-mcp serve -- everything` with raw JSON-RPC on its stdin/stdout."""

    def __init__(self, bot_url, *args):
        self.proc = subprocess.Popen(
            [HITL_MCP, "serve", *args, "--", EVERYTHING],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=gateway_env(bot_url),
        )
        self.incoming = queue.Queue()
        self.notifications = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.incoming.put(json.loads(line))
        self.incoming.put(None)

    def send(self, message):
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def notify(self, method, params=None):
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})})

    def request(self, method, params=None, timeout=20):
        """Sends a request; returns its whole response (result or error)."""
        self._next_id += 1
        rid = self._next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, **({"params": params} if params is not None else {})})
        deadline = time.time() + timeout
        while True:
            try:
                msg = self.incoming.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                raise AssertionError(f"no answer to {method} within {timeout}s") from None
            if msg is None:
                raise AssertionError(f"the gateway closed stdout before answering {method} (exit {self.proc.poll()})")
            if msg.get("id") == rid and "method" not in msg:
                return msg
            if "method" in msg and "id" not in msg:
                self.notifications.append(msg)
            # Requests from the gateway (roots, sampling) are not expected here.

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture
def stdio_gateway(bot):
    gateways = []

    def start(*args):
        g = StdioGateway(bot.url, *args)
        gateways.append(g)
        return g

    yield start
    for g in gateways:
        g.close()


def open_stdio(gw, version):
    """Does what a client of `version` does before its first call; returns
    what each request needs added to its params, and the initialize result."""
    if version == INLINE_VERSION:
        return {"_meta": inline_meta()}, None
    init = gw.request("initialize", {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO})
    gw.notify("notifications/initialized")
    return {}, init


def assert_initialized(init, version):
    assert "result" in init, init
    result = init["result"]
    assert result["protocolVersion"] == version, result
    assert result["serverInfo"]["name"] and result["serverInfo"]["version"], result
    assert "tools" in result["capabilities"], result


def assert_tools_listed(response):
    assert "result" in response, response
    names = {t["name"] for t in response["result"]["tools"]}
    assert {"get-sum", "echo", "approval_status", "list_pending_approvals"} <= names, names


def assert_sum(response, a, b):
    assert "result" in response, response
    result = response["result"]
    assert not result.get("isError"), result
    assert result["content"][0]["text"] == f"The sum of {a} and {b} is {a + b}.", result
    # 2026-07-28 results say "complete"; older revisions never carry it
    # (checked by the callers that know the version).
    assert result.get("resultType", "complete") == "complete", result


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
async def test_clients_that_initialize_over_stdio_get_their_version_back_and_call_tools(stdio_gateway, version):
    gw = stdio_gateway()
    extra, init = open_stdio(gw, version)
    assert_initialized(init, version)
    assert_tools_listed(gw.request("tools/list", {**extra}))
    called = gw.request("tools/call", {"name": "get-sum", "arguments": {"a": 20, "b": 22}, **extra})
    assert_sum(called, 20, 22)
    assert "resultType" not in called["result"], "a 2025 client gets the 2025 wire shape"


async def test_a_2026_07_28_client_over_stdio_lists_and_calls_without_a_handshake(stdio_gateway):
    gw = stdio_gateway()
    meta = {"_meta": inline_meta()}
    # Discovery first: it already describes the upstream, not an empty gateway.
    discovered = gw.request("server/discover", meta)
    assert "result" in discovered, discovered
    assert set(ALL_VERSIONS) <= set(discovered["result"]["supportedVersions"]), discovered
    caps = discovered["result"]["capabilities"]
    assert {"tools", "prompts", "resources"} <= set(caps), discovered
    server_info = discovered["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]
    assert server_info["name"] != "rmcp", discovered
    listed = gw.request("tools/list", meta)
    assert_tools_listed(listed)
    assert listed["result"]["resultType"] == "complete", listed
    summed = gw.request("tools/call", {"name": "get-sum", "arguments": {"a": 7, "b": 35}, **meta})
    assert_sum(summed, 7, 35)
    assert summed["result"]["resultType"] == "complete", summed
    status = gw.request("tools/call", {"name": "approval_status", "arguments": {"request_id": "no-such-request"}, **meta})
    assert "result" in status, status


async def test_a_2026_07_28_request_naming_an_unknown_version_is_refused_with_the_supported_ones(stdio_gateway):
    gw = stdio_gateway()
    refused = gw.request("tools/list", {"_meta": inline_meta("2099-01-01")})
    assert "error" in refused, refused
    assert set(ALL_VERSIONS) <= set(refused["error"]["data"]["supported"]), refused
    # The same session still serves a request that names a version it knows.
    assert_tools_listed(gw.request("tools/list", {"_meta": inline_meta()}))


@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_a_held_call_is_released_by_a_decision_whatever_the_version(stdio_gateway, bot, tmp_path, version):
    gw = stdio_gateway("--config", hold_echo(tmp_path), "--timeout", "60")
    extra, init = open_stdio(gw, version)
    if init:
        assert_initialized(init, version)
    answer = {}

    def call():
        answer["r"] = gw.request("tools/call", {"name": "echo", "arguments": {"message": f"held under {version}"}, **extra}, timeout=30)

    caller = threading.Thread(target=call)
    caller.start()
    [req] = await anyio.to_thread.run_sync(bot.wait_pending)
    assert req["tool"] == "echo" and req["risk"] == "high"
    assert "r" not in answer, "nothing runs before the decision"
    status, _ = bot.decide(req["request_id"], "approve")
    assert status == 200
    await anyio.to_thread.run_sync(lambda: caller.join(30))
    result = answer["r"]["result"]
    assert not result.get("isError") and result["content"][0]["text"] == f"Echo: held under {version}", answer


# --- Streamable HTTP ---------------------------------------------------------------------


def wait_port(port, timeout=20):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def http_url(bot):
    port = free_port()
    proc = subprocess.Popen([HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--", EVERYTHING], env=gateway_env(bot.url))
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sse_messages(text):
    """The JSON-RPC messages in an SSE body (events without data are primers)."""
    out = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in event.split("\n") if line.startswith("data:"))
        if data.strip():
            out.append(json.loads(data))
    return out


def post(url, message, headers):
    """POSTs one JSON-RPC message; returns (status, headers, messages)."""
    req = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST", headers={
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        **headers,
    })
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            status, got, body = resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, got, body = e.code, e.headers, e.read().decode()
    ctype = got.get("Content-Type", "")
    if "text/event-stream" in ctype:
        messages = sse_messages(body)
    elif "json" in ctype and body.strip():
        parsed = json.loads(body)
        messages = parsed if isinstance(parsed, list) else [parsed]
    else:
        messages = []
    return status, got, messages, body


class HttpClient:
    """A client of one protocol version over Streamable HTTP, by hand."""

    def __init__(self, url, version):
        self.url, self.version = url, version
        self.session_id = None
        self._next_id = 0

    def headers(self, method, name=None):
        h = {}
        if self.session_id:
            h["Mcp-Session-Id"] = self.session_id
        if self.version == INLINE_VERSION or self.session_id:
            h["MCP-Protocol-Version"] = self.version
        if self.version == INLINE_VERSION:
            # SEP-2243: the method (and the tool's name) in headers too.
            h["Mcp-Method"] = method
            if name:
                h["Mcp-Name"] = name
        return h

    def request(self, method, params=None):
        self._next_id += 1
        params = dict(params or {})
        if self.version == INLINE_VERSION:
            params["_meta"] = inline_meta()
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        status, headers, messages, body = post(self.url, message, self.headers(method, params.get("name")))
        answers = [m for m in messages if m.get("id") == self._next_id and "method" not in m]
        assert status == 200 and len(answers) == 1, f"{method} {message} -> HTTP {status}: {body[:2000]}"
        return headers, answers[0]

    def open(self):
        """The 2025 handshake; nothing to do for 2026-07-28."""
        if self.version == INLINE_VERSION:
            return None
        headers, init = self.request("initialize", {"protocolVersion": self.version, "capabilities": {}, "clientInfo": CLIENT_INFO})
        self.session_id = headers.get("Mcp-Session-Id")
        assert self.session_id, f"no Mcp-Session-Id in {dict(headers)}"
        status, _, _, body = post(self.url, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                                  self.headers("notifications/initialized"))
        assert status == 202, (status, body)
        return init

    def close(self):
        if self.session_id:
            req = urllib.request.Request(self.url, method="DELETE", headers=self.headers("DELETE"))
            try:
                urllib.request.urlopen(req, timeout=10).close()
            except urllib.error.HTTPError:
                pass


@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_every_version_lists_and_calls_over_streamable_http(http_url, version):
    client = HttpClient(http_url, version)
    try:
        init = await anyio.to_thread.run_sync(client.open)
        if version in HANDSHAKE_VERSIONS:
            assert_initialized(init, version)
        _, listed = await anyio.to_thread.run_sync(lambda: client.request("tools/list"))
        assert_tools_listed(listed)
        _, called = await anyio.to_thread.run_sync(lambda: client.request("tools/call", {"name": "get-sum", "arguments": {"a": 19, "b": 23}}))
        assert_sum(called, 19, 23)
    finally:
        await anyio.to_thread.run_sync(client.close)


async def test_a_2026_07_28_request_over_http_without_its_metadata_is_refused(http_url):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    status, _, messages, body = await anyio.to_thread.run_sync(lambda: post(
        http_url, message, {"MCP-Protocol-Version": INLINE_VERSION, "Mcp-Method": "tools/list"}))
    assert status == 400, (status, body)
    assert messages and "error" in messages[0] and "io.modelcontextprotocol/protocolVersion" in messages[0]["error"]["message"], body
