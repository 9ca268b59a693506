"""Each downstream session sees the tools the upstream shows a client with
the same capabilities: sessions share an upstream session only when their
declared capabilities are identical, up to `[gateway] max_upstream_sessions`.

server-everything offers its roots, sampling and elicitation tools only to
clients that declared those capabilities, so a legacy client (2025-06-18,
nothing declared) and a client declaring roots, sampling and elicitation
must see different lists, whichever connects first."""

import contextlib
import os
import subprocess
from pathlib import Path

import anyio
import mcp.types as types
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from conftest import EVERYTHING, HITL_MCP, TOKEN, free_port, gateway_params
from test_http import wait_port

pytestmark = pytest.mark.anyio

GATEWAY_TOOLS = {"approval_status", "list_pending_approvals"}


async def sampling(context, params):
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="sampled"), model="e2e")


async def elicitation(context, params):
    return types.ElicitResult(action="decline")


async def roots(context):
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp", name="tmp")])


CAPABLE = dict(sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=roots)
KINDS = {"legacy": {}, "capable": CAPABLE}


@contextlib.asynccontextmanager
async def client(streams, kind, monkeypatch):
    read, write = streams[0], streams[1]
    with monkeypatch.context() as m:
        if kind == "legacy":
            m.setattr(types, "LATEST_PROTOCOL_VERSION", "2025-06-18")
        s = ClientSession(read, write, **KINDS[kind])
        await s.__aenter__()
        try:
            await s.initialize()
        except BaseException:
            await s.__aexit__(None, None, None)
            raise
    try:
        yield s
    finally:
        await s.__aexit__(None, None, None)


async def tool_names(s):
    return {t.name for t in (await s.list_tools()).tools}


async def direct_tools(kind, monkeypatch):
    """What server-everything lists to a client of this kind, with no gateway."""
    names = None
    try:
        async with stdio_client(StdioServerParameters(command=EVERYTHING, args=[])) as streams:
            async with client(streams, kind, monkeypatch) as s:
                names = await tool_names(s)
    except BaseExceptionGroup as e:
        # The server's messages sent after the session closed (it asks for
        # roots at start) cannot be delivered: only that is expected here.
        _, rest = e.split(anyio.BrokenResourceError)
        if rest is not None or names is None:
            raise
    return names


@pytest.fixture
async def expected(monkeypatch):
    want = {kind: await direct_tools(kind, monkeypatch) for kind in KINDS}
    # The premise: the upstream gates tools on capabilities.
    assert want["legacy"] < want["capable"], want
    return {kind: names | GATEWAY_TOOLS for kind, names in want.items()}


@contextlib.contextmanager
def http_gateway(bot, tmp_path, config=""):
    port = free_port()
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    proc = subprocess.Popen(
        [HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--config", str(path), "--", EVERYTHING],
        env=dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn"),
    )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}/mcp", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("order", [("legacy", "capable"), ("capable", "legacy")])
async def test_http_sessions_see_the_tools_of_their_own_capabilities(bot, tmp_path, monkeypatch, expected, order):
    first, second = order
    with http_gateway(bot, tmp_path) as (url, _):
        async with streamable_http_client(url) as a, client(a, first, monkeypatch) as s1:
            assert await tool_names(s1) == expected[first]
            async with streamable_http_client(url) as b, client(b, second, monkeypatch) as s2:
                assert await tool_names(s2) == expected[second]
                # The first session's list did not change with the second.
                assert await tool_names(s1) == expected[first]
                # A third session like the first shares its upstream session.
                async with streamable_http_client(url) as c, client(c, first, monkeypatch) as s3:
                    assert await tool_names(s3) == expected[first]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_stdio_sessions_see_the_tools_of_their_own_capabilities(bot, monkeypatch, expected, kind):
    async with stdio_client(gateway_params(bot.url, [EVERYTHING])) as streams:
        async with client(streams, kind, monkeypatch) as s:
            assert await tool_names(s) == expected[kind]


async def test_sampling_from_the_upstream_reaches_a_client_that_declared_it(bot, tmp_path, monkeypatch):
    with http_gateway(bot, tmp_path) as (url, _):
        async with streamable_http_client(url) as a, client(a, "capable", monkeypatch) as capable:
            # A legacy session connected later must not be the one asked.
            async with streamable_http_client(url) as b, client(b, "legacy", monkeypatch) as legacy:
                tool = next(n for n in await tool_names(capable) if "sampl" in n.lower())
                assert tool not in await tool_names(legacy)
                result = await capable.call_tool(tool, {"prompt": "hi", "maxTokens": 5})
                assert not result.isError, result
                assert "sampled" in str(result.content)


async def test_the_session_cap_refuses_a_second_capability_set_clearly(bot, tmp_path, monkeypatch):
    with http_gateway(bot, tmp_path, "[gateway]\nmax_upstream_sessions = 1\n") as (url, _):
        async with streamable_http_client(url) as a, client(a, "legacy", monkeypatch) as s1:
            assert "echo" in await tool_names(s1)
            with pytest.raises(Exception) as refused:
                async with streamable_http_client(url) as b, client(b, "capable", monkeypatch):
                    pass
            assert "max_upstream_sessions" in _messages(refused.value)
            # The session already open keeps working.
            assert "echo" in await tool_names(s1)


def children(pid):
    """The live child processes of `pid` (the upstream servers it runs)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += (task / "children").read_text().split()
    return [c for c in out if Path(f"/proc/{c}/stat").read_text().split(") ")[1][0] != "Z"]


async def test_an_upstream_session_with_no_client_left_is_closed(bot, tmp_path, monkeypatch):
    with http_gateway(bot, tmp_path) as (url, pid):
        async with streamable_http_client(url) as a, client(a, "legacy", monkeypatch) as s1:
            await tool_names(s1)
            async with streamable_http_client(url) as b, client(b, "capable", monkeypatch) as s2:
                await tool_names(s2)
                assert len(children(pid)) == 2
            # The capable client's session is gone (DELETE): its upstream
            # child is closed once idle, the legacy one's stays.
            for _ in range(150):
                if len(children(pid)) == 1:
                    break
                await anyio.sleep(0.1)
            assert len(children(pid)) == 1
            assert "echo" in await tool_names(s1)


def _messages(exc):
    """Every message in an exception and the groups it is wrapped in."""
    out = [str(exc)]
    for inner in getattr(exc, "exceptions", ()):
        out.append(_messages(inner))
    if exc.__cause__ is not None:
        out.append(_messages(exc.__cause__))
    return " ".join(out)


# What the Python SDK client declares with the callbacks of CAPABLE.
STATELESS_CAPABILITIES = {
    "legacy": {},
    "capable": {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {"form": {}, "url": {}}},
}


@pytest.mark.parametrize("order", [("legacy", "capable"), ("capable", "legacy")])
async def test_stateless_calls_see_the_tools_of_the_capabilities_they_declare(bot, tmp_path, expected, order):
    from test_protocol_versions import CLIENT_INFO, INLINE_VERSION, post

    def tools_list(kind):
        meta = {
            "io.modelcontextprotocol/protocolVersion": INLINE_VERSION,
            "io.modelcontextprotocol/clientCapabilities": STATELESS_CAPABILITIES[kind],
            "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        }
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
        headers = {"MCP-Protocol-Version": INLINE_VERSION, "Mcp-Method": "tools/list"}
        status, _, messages, body = post(url, message, headers)
        answers = [m for m in messages if m.get("id") == 1 and "result" in m]
        assert status == 200 and len(answers) == 1, body[:2000]
        return {t["name"] for t in answers[0]["result"]["tools"]}

    with http_gateway(bot, tmp_path) as (url, _):
        for kind in order:
            assert await anyio.to_thread.run_sync(tools_list, kind) == expected[kind]
