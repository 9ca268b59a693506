"""Limits that hold whatever the client does: argument depth, holds fitted
to the client, calls and requests that belong to their own session, and
logs that keep secrets out even with --debug."""

import contextlib
import os
import subprocess
import time

import anyio
import pytest
from mcp import ClientSession, McpError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

from conftest import EVERYTHING, HITL_MCP, TOKEN, free_port, gateway_params, session
from test_http import wait_port

pytestmark = pytest.mark.anyio

HOLD_ECHO = '[[rule]]\nname = "hold-echo"\ntool = "echo"\nrisk = "high"\naction = "require_approval"\n'
PLANTED = "sk_live_PLANTED0123456789abcdef"


def nested(levels):
    v = "leaf"
    for _ in range(levels):
        v = {"a": v}
    return v


@contextlib.asynccontextmanager
async def named_session(params, name, errlog=None):
    async with stdio_client(params, **({"errlog": errlog} if errlog else {})) as (read, write):
        async with ClientSession(read, write, client_info=Implementation(name=name, version="2.1.212")) as s:
            await s.initialize()
            yield s


async def test_arguments_nested_past_64_levels_are_refused_and_never_forwarded(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text(HOLD_ECHO)
    async with session(gateway_params(bot.url, [EVERYTHING], "--config", str(config))) as gw:
        for levels in (65, 125):
            with pytest.raises(McpError) as err:
                await gw.call_tool("echo", {"message": "x", "deep": nested(levels - 1)})
            assert "at most 64" in str(err.value)
        # Nothing reached the approval service, and the session still works.
        assert bot.all() == []
        r = await gw.call_tool("get-sum", {"a": 1, "b": 2})
        assert r.content[0].text == "The sum of 1 and 2 is 3."


async def test_a_client_named_claude_code_gets_its_own_budget_and_others_keep_theirs(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text(HOLD_ECHO + '\n[gateway.clients."claude-code"]\nhold_budget_with_progress_secs = 1\n')
    params = gateway_params(bot.url, [EVERYTHING], "--config", str(config))
    progress = []

    async def on_progress(p, total, message):
        progress.append(message)

    async with named_session(params, "claude-code") as gw:
        start = time.monotonic()
        r = await gw.call_tool("echo", {"message": "a"}, progress_callback=on_progress)
        assert r.structuredContent["status"] == "pending"
        assert time.monotonic() - start < 30
    # Any other client with a progress token is still held (3600 s budget):
    # still waiting after 3 s, released by the decision.
    async with named_session(params, "some-other-client") as gw:
        results = []

        async def call():
            results.append(await gw.call_tool("echo", {"message": "b"}, progress_callback=on_progress))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.sleep(3)
            assert results == []
            pending = [r for r in bot.pending() if r["arguments"] == {"message": "b"}]
            assert len(pending) == 1
            bot.decide(pending[0]["request_id"], "approve")
    assert results[0].content[0].text == "Echo: b"


def test_a_bad_client_budget_is_refused_at_start(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text('[gateway.clients."zed"]\nhold_budget_secs = 0\n')
    out = subprocess.run(
        [HITL_MCP, "serve", "--config", str(config), "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN),
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 2
    assert 'gateway.clients."zed"' in out.stderr and "between 1 and 86400" in out.stderr, out.stderr


async def test_sessions_see_only_their_own_approval_requests(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text(HOLD_ECHO)
    port = free_port()
    proc = subprocess.Popen(
        [HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--config", str(config), "--hold-budget", "1", "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn"),
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_port(port)
        async with streamable_http_client(url) as (ra, wa, _), streamable_http_client(url) as (rb, wb, _):
            async with ClientSession(ra, wa) as a, ClientSession(rb, wb) as b:
                await a.initialize()
                await b.initialize()
                r = await a.call_tool("echo", {"message": "alice's secret"})
                request_id = r.structuredContent["request_id"]
                mine = await a.call_tool("approval_status", {"request_id": request_id})
                assert not mine.isError and mine.structuredContent["status"] == "pending"
                theirs = await b.call_tool("approval_status", {"request_id": request_id})
                assert theirs.isError and "no such request" in theirs.content[0].text
                listed_a = await a.call_tool("list_pending_approvals", {})
                listed_b = await b.call_tool("list_pending_approvals", {})
                assert [p["request_id"] for p in listed_a.structuredContent["pending"]] == [request_id]
                assert listed_b.structuredContent["pending"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_debug_logs_carry_no_arguments_results_or_url_secrets(bot, tmp_path):
    log = tmp_path / "gateway.log"
    with open(log, "w") as errlog:
        params = gateway_params(bot.url, [EVERYTHING], "--debug")
        params.env.pop("RUST_LOG")
        async with named_session(params, "t", errlog=errlog) as gw:
            r = await gw.call_tool("echo", {"message": PLANTED})
            assert PLANTED in r.content[0].text
        # An HTTP upstream that is down, with secrets in its URL.
        dead = free_port()
        params = gateway_params(bot.url, [], "--debug", "--upstream-url",
                                f"http://bob:hunter2-PW@127.0.0.1:{dead}/mcp?api_key={PLANTED}")
        params.args.remove("--")
        params.env.pop("RUST_LOG")
        with pytest.raises(Exception) as err:
            async with named_session(params, "t", errlog=errlog):
                pass
    text = log.read_text()
    assert "verdict tool=echo" in text  # --debug logging is on
    # The name derived from the URL is its host, not its user.
    assert "upstream=bob" not in text and "upstream=127.0.0.1" in text
    for secret in (PLANTED, "hunter2-PW"):
        assert secret not in text, f"{secret} in the gateway's log"
        assert secret not in str(err.value)


async def test_a_session_past_its_configured_hold_cap_is_refused_clearly(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text(HOLD_ECHO + "\n[gateway]\nmax_held_per_session = 1\n")
    async with session(gateway_params(bot.url, [EVERYTHING], "--config", str(config))) as gw:
        results = []

        async def held():
            results.append(await gw.call_tool("echo", {"message": "first"}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(held)
            for _ in range(200):
                pending = [r for r in bot.pending() if r["arguments"] == {"message": "first"}]
                if pending:
                    break
                await anyio.sleep(0.05)
            assert len(pending) == 1
            # The second hold is refused at once, and nothing is created for it.
            r = await gw.call_tool("echo", {"message": "second"})
            assert r.isError and "already has 1 calls waiting" in r.content[0].text
            assert [p["arguments"] for p in bot.pending()] == [{"message": "first"}]
            bot.decide(pending[0]["request_id"], "approve")
    assert results[0].content[0].text == "Echo: first"


def test_a_hold_cap_of_zero_is_refused_at_start(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text("[gateway]\nmax_held_per_gateway = 0\n")
    out = subprocess.run(
        [HITL_MCP, "serve", "--config", str(config), "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN),
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 2
    assert "max_held_per_gateway must be at least 1" in out.stderr, out.stderr
