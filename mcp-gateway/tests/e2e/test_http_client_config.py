"""`hitl-mcp generate-config --gateway-url`: the config it writes for an HTTP
client connects to a running `hitl-mcp serve --listen` with the listen token
it saved, and the gateway asks every other caller for that token."""

import json
import os
import subprocess

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from conftest import EVERYTHING, HITL_MCP, TOKEN, free_port
from test_http import wait_port

pytestmark = pytest.mark.anyio

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_the_generated_http_config_reaches_a_gateway_that_asks_for_its_token(bot, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = dict(os.environ, HITL_DATA_DIR=str(data), HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn")
    env.pop("HITL_LISTEN_TOKEN", None)
    made = subprocess.run(
        [HITL_MCP, "generate-config", "--gateway-url", url, "--client", "claude-code"],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert made.returncode == 0, made.stderr
    server = json.loads(made.stdout)["mcpServers"]["hitl"]
    assert server["type"] == "http" and server["url"] == url
    auth = server["headers"]["Authorization"]
    assert auth == "Bearer " + (data / "gateway-listen-token").read_text()

    # No --listen-token: the gateway on this machine uses the saved one.
    proc = subprocess.Popen([HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--", EVERYTHING], env=env)
    try:
        wait_port(port)
        async with httpx.AsyncClient() as http:
            for bad in ({}, {"Authorization": "Bearer wrong"}):
                r = await http.post(url, json=INIT, headers={**HEADERS, **bad})
                assert r.status_code == 401, (bad, r.status_code, r.text)
        # The client as the config says: its URL and its headers.
        client = httpx.AsyncClient(headers=server["headers"])
        async with client, streamable_http_client(server["url"], http_client=client) as (read, write, _):
            async with ClientSession(read, write) as s:
                await s.initialize()
                r = await s.call_tool("get-sum", {"a": 2, "b": 3})
        assert r.content[0].text == "The sum of 2 and 3 is 5."
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_saved_listen_token_that_is_unusable_stops_the_gateway(bot, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "gateway-listen-token").write_text("   \n")
    env = dict(os.environ, HITL_DATA_DIR=str(data), HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN)
    env.pop("HITL_LISTEN_TOKEN", None)
    out = subprocess.run(
        [HITL_MCP, "serve", "--listen", f"127.0.0.1:{free_port()}", "--", EVERYTHING],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert out.returncode != 0
    assert "gateway-listen-token" in out.stderr and "delete it" in out.stderr, out.stderr
