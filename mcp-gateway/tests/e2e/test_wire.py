"""The gateway's HTTP serving as plain HTTP clients see it: no Nagle stall on
keep-alive connections, a session DELETE answered 204, browser origins
checked, and the listen token taken seriously."""

import http.client
import json
import os
import statistics
import subprocess
import time

import pytest

from conftest import EVERYTHING, HITL_MCP, TOKEN, free_port
from test_http import wait_port

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-http", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def gateway(bot):
    """`hitl-mcp serve --listen` in front of server-everything, builtin policy."""
    port = free_port()
    proc = subprocess.Popen(
        [HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn"),
    )
    wait_port(port)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def post(conn, body, session=None, extra=None):
    headers = dict(HEADERS, **(extra or {}))
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-06-18"
    conn.request("POST", "/mcp", body=json.dumps(body), headers=headers)
    resp = conn.getresponse()
    data = resp.read()  # to the end, as httpx and http.client do
    return resp, data


def open_session(conn):
    resp, _ = post(conn, INIT)
    assert resp.status == 200
    sid = resp.getheader("Mcp-Session-Id")
    assert sid
    resp, _ = post(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    assert resp.status == 202
    return sid


def test_keep_alive_calls_do_not_stall_on_nagle(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway, timeout=10)
    sid = open_session(conn)
    times = []
    for i in range(200):
        start = time.perf_counter()
        resp, data = post(conn, {"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
                                 "params": {"name": "echo", "arguments": {"message": f"m{i}"}}}, sid)
        times.append(time.perf_counter() - start)
        assert resp.status == 200 and f"Echo: m{i}" in data.decode()
    conn.close()
    # With Nagle on, the response's last write waits for the client's delayed
    # ACK: every call takes about 40 ms. A busy machine may slow a few calls;
    # a stall slows them all.
    stalled = [t for t in times if t >= 0.035]
    assert len(stalled) < 20, f"{len(stalled)} of 200 calls took >= 35 ms; median {statistics.median(times) * 1000:.1f} ms"


def test_a_session_delete_is_answered_204(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway, timeout=10)
    sid = open_session(conn)
    conn.request("DELETE", "/mcp", headers={"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
    resp = conn.getresponse()
    assert resp.read() == b""
    assert resp.status == 204
    # The session is gone.
    resp, _ = post(conn, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sid)
    assert resp.status == 404


def test_a_browser_page_on_another_origin_is_refused(gateway):
    # A fresh connection for each request: a server may close the connection
    # after refusing one, as a browser would see it.
    def init_with(origin):
        conn = http.client.HTTPConnection("127.0.0.1", gateway, timeout=10)
        try:
            resp, _ = post(conn, INIT, extra={"Origin": origin} if origin else None)
            return resp.status
        finally:
            conn.close()

    assert init_with("https://evil.example") == 403
    assert init_with(f"http://evil.example:{gateway}") == 403
    # A page served from this machine, and clients that send no Origin, pass.
    assert init_with(f"http://localhost:{gateway}") == 200
    assert init_with(None) == 200


@pytest.mark.parametrize("how", ["flag-empty", "flag-blank", "env-empty", "env-blank"])
def test_an_empty_or_blank_listen_token_is_refused_at_start(bot, how):
    value = "" if how.endswith("empty") else "  \t "
    args = [HITL_MCP, "serve", "--listen", "0.0.0.0:0"]
    env = dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN)
    if how.startswith("flag"):
        args += [f"--listen-token={value}"]
    else:
        env["HITL_LISTEN_TOKEN"] = value
    out = subprocess.run([*args, "--", EVERYTHING], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert "listen token is empty or blank" in out.stderr, out.stderr
