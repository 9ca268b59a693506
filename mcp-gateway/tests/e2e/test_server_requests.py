"""The upstream's own requests to the client pass through the gateway both
ways: roots, sampling and elicitation reach the client's callbacks, and the
client's answers reach the upstream. The gateway declares the client's
capabilities to the upstream, so the upstream offers the same tools it
would offer the client directly."""

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

from conftest import EVERYTHING, gateway_params

pytestmark = pytest.mark.anyio


async def sampling(ctx, params):
    asked = params.messages[0].content.text
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"sampled: {asked}"), model="test-model"
    )


async def elicitation(ctx, params):
    return types.ElicitResult(action="accept", content={"color": "teal", "number": 7, "pets": ["fish"]})


async def roots(ctx):
    return types.ListRootsResult(roots=[types.Root(uri="file:///srv/project", name="project")])


async def run(params):
    async with stdio_client(params) as (read, write):
        async with ClientSession(
            read, write, sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=roots
        ) as s:
            await s.initialize()
            names = {t.name for t in (await s.list_tools()).tools}
            out = {"tools": names}
            for tool, args in [
                ("get-roots-list", {}),
                ("trigger-sampling-request", {"prompt": "say hi"}),
                ("trigger-elicitation-request", {}),
            ]:
                r = await s.call_tool(tool, args)
                out[tool] = (r.isError, [c.text for c in r.content if c.type == "text"])
            return out


async def test_roots_sampling_and_elicitation_cross_the_gateway_both_ways(bot):
    direct = await run(StdioServerParameters(command=EVERYTHING, args=[]))
    gated = await run(gateway_params(bot.url, [EVERYTHING]))
    assert {"get-roots-list", "trigger-sampling-request", "trigger-elicitation-request"} <= gated["tools"]
    assert gated["tools"] - {"approval_status", "list_pending_approvals"} == direct["tools"]
    for tool in ("get-roots-list", "trigger-sampling-request", "trigger-elicitation-request"):
        assert gated[tool] == direct[tool], tool
    assert any("file:///srv/project" in t for t in gated["get-roots-list"][1])
    assert any("sampled: " in t and "say hi" in t for t in gated["trigger-sampling-request"][1])
    assert any("teal" in t for t in gated["trigger-elicitation-request"][1])


async def test_log_messages_and_resource_updates_reach_the_client(bot):
    logs, updates = [], []

    async def on_log(params):
        logs.append(params)

    async def on_message(message):
        if isinstance(message, types.ServerNotification) and isinstance(message.root, types.ResourceUpdatedNotification):
            updates.append(str(message.root.params.uri))

    params = gateway_params(bot.url, [EVERYTHING])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log, message_handler=on_message) as s:
            await s.initialize()
            await s.set_logging_level("debug")
            resource = (await s.list_resources()).resources[0]
            await s.subscribe_resource(resource.uri)
            await s.call_tool("toggle-simulated-logging", {})
            await s.call_tool("toggle-subscriber-updates", {})
            for _ in range(60):
                if logs and updates:
                    break
                await anyio.sleep(0.1)
    assert logs, "the upstream's log message reached the client"
    assert str(resource.uri) in updates, updates
