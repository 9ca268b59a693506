"""The gateway over Streamable HTTP: serving clients with --listen (checked
with the official MCP inspector's CLI and the Python SDK), and in front of an
upstream that itself speaks Streamable HTTP (--upstream-url)."""

import json
import os
import subprocess
import time
import urllib.request

import anyio
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from conftest import EVERYTHING, HITL_MCP, NODE_MODULES, TOKEN, free_port, gateway_params, session

pytestmark = pytest.mark.anyio

INSPECTOR = str(NODE_MODULES / ".bin" / "mcp-inspector")


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            import socket
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def http_gateway(bot, tmp_path):
    port = free_port()
    config = tmp_path / "policy.toml"
    config.write_text('[[rule]]\nname = "hold-echo"\ntool = "echo"\nrisk = "high"\naction = "require_approval"\n')
    proc = subprocess.Popen(
        [HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--config", str(config), "--hold-budget", "30", "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn"),
    )
    wait_port(port)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(timeout=10)


def inspector(url, *args):
    out = subprocess.run(
        [INSPECTOR, "--cli", url, "--transport", "http", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def test_the_inspector_lists_and_calls_through_the_http_gateway(http_gateway):
    listed = await anyio.to_thread.run_sync(lambda: inspector(http_gateway, "--method", "tools/list"))
    names = {t["name"] for t in listed["tools"]}
    assert {"get-sum", "echo", "approval_status", "list_pending_approvals"} <= names
    called = await anyio.to_thread.run_sync(lambda: inspector(
        http_gateway, "--method", "tools/call", "--tool-name", "get-sum", "--tool-arg", "a=20", "--tool-arg", "b=22"))
    assert called["content"][0]["text"] == "The sum of 20 and 22 is 42."
    prompts = await anyio.to_thread.run_sync(lambda: inspector(http_gateway, "--method", "prompts/list"))
    assert "simple-prompt" in {p["name"] for p in prompts["prompts"]}


async def test_a_held_call_over_http_is_released_by_a_decision(http_gateway, bot):
    async with streamable_http_client(http_gateway) as (read, write, _):
        async with ClientSession(read, write) as s:
            await s.initialize()
            results = []
            async def call():
                results.append(await s.call_tool("echo", {"message": "after approval"}))
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                [req] = await anyio.to_thread.run_sync(bot.wait_pending)
                assert req["tool"] == "echo" and req["risk"] == "high"
                bot.decide(req["request_id"], "approve")
    [r] = results
    assert not r.isError and r.content[0].text == "Echo: after approval"


async def test_pending_answer_is_a_success_with_structured_content_when_the_tool_has_no_output_schema(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text('[[rule]]\nname = "hold-echo"\ntool = "echo"\nrisk = "high"\naction = "require_approval"\n')
    async with session(gateway_params(bot.url, [EVERYTHING], "--config", str(config), "--hold-budget", "1")) as gw:
        r = await gw.call_tool("echo", {"message": "x"})
    assert not r.isError
    assert r.structuredContent["status"] == "pending"
    assert r.structuredContent["check_again_after_secs"] > 0
    assert r.meta["hitl/approval"] == r.structuredContent


async def test_the_gateway_in_front_of_an_http_upstream(bot, tmp_path):
    port = free_port()
    upstream = subprocess.Popen(
        [EVERYTHING, "streamableHttp"], env=dict(os.environ, PORT=str(port)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        params = gateway_params(bot.url, [], "--upstream-url", f"http://127.0.0.1:{port}/mcp")
        async with session(params) as gw:
            tools = {t.name for t in (await gw.list_tools()).tools}
            r = await gw.call_tool("get-sum", {"a": 1, "b": 2})
        assert {"get-sum", "approval_status"} <= tools
        assert r.content[0].text == "The sum of 1 and 2 is 3."
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)


async def test_a_listen_token_is_required_when_set(bot):
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--listen-token", "s3cret-token", "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn"),
    )
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/mcp"
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        async with httpx.AsyncClient() as http:
            for bad in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
                r = await http.post(url, json=init, headers={**headers, **bad})
                assert r.status_code == 401, (bad, r.status_code, r.text)
                assert "listen-token" in r.json()["message"]
        authed = httpx.AsyncClient(headers={"Authorization": "Bearer s3cret-token"})
        async with authed, streamable_http_client(url, http_client=authed) as (read, write, _):
            async with ClientSession(read, write) as s:
                await s.initialize()
                r = await s.call_tool("get-sum", {"a": 2, "b": 3})
        assert r.content[0].text == "The sum of 2 and 3 is 5."
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_listening_beyond_loopback_without_a_token_is_refused(bot):
    out = subprocess.run(
        [HITL_MCP, "serve", "--listen", "0.0.0.0:0", "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN),
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 2
    assert "set --listen-token" in out.stderr, out.stderr
