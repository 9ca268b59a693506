"""The gateway in front of the official MCP servers, driven by the official
Python MCP SDK: invisible for safe calls, impossible to slip past for risky
ones."""

import os
import signal
import subprocess
import time

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.shared.exceptions import McpError
from mcp.types import CancelledNotification, CancelledNotificationParams, ClientNotification

from conftest import EVERYTHING, FILESYSTEM, gateway_params, session

pytestmark = pytest.mark.anyio

GATEWAY_TOOLS = {"approval_status", "list_pending_approvals"}


def dump(items):
    return [i.model_dump(mode="json", exclude_none=True) for i in items]


def facts(result):
    """What the gateway says about the approval, from the result's _meta."""
    return result.meta["hitl/approval"]


async def held_call(s, tool, args, results, **kw):
    results.append(await s.call_tool(tool, args, **kw))


# --- pass-through -----------------------------------------------------------


@pytest.mark.parametrize("upstream", ["everything", "filesystem"])
async def test_tool_list_is_the_upstreams_plus_the_gateway_tools(bot, fsroot, upstream):
    cmd = [EVERYTHING] if upstream == "everything" else [FILESYSTEM, str(fsroot)]
    async with session(StdioServerParameters(command=cmd[0], args=cmd[1:])) as direct:
        want = dump((await direct.list_tools()).tools)
    async with session(gateway_params(bot.url, cmd)) as gw:
        got = dump((await gw.list_tools()).tools)
    assert {t["name"] for t in got} - {t["name"] for t in want} == GATEWAY_TOOLS
    assert [t for t in got if t["name"] not in GATEWAY_TOOLS] == want


async def test_safe_calls_prompts_and_resources_pass_through_unchanged(bot):
    calls = [
        ("echo", {"message": "hi <b> & \"quoted\""}),
        ("get-sum", {"a": 2, "b": 40}),
        ("get-structured-content", {"location": "Chicago"}),
        ("get-tiny-image", {}),
        ("get-annotated-message", {"messageType": "error", "includeImage": True}),
    ]
    async def run(s):
        out = [(await s.call_tool(name, args)).model_dump(mode="json", exclude_none=True) for name, args in calls]
        out.append(dump((await s.list_prompts()).prompts))
        out.append((await s.get_prompt("args-prompt", {"city": "Paris", "state": "TX"})).model_dump(mode="json"))
        resources = (await s.list_resources()).resources
        out.append(dump(resources))
        out.append((await s.read_resource(resources[0].uri)).model_dump(mode="json"))
        return out
    async with session(StdioServerParameters(command=EVERYTHING, args=[])) as direct:
        want = await run(direct)
    async with session(gateway_params(bot.url, [EVERYTHING])) as gw:
        got = await run(gw)
    assert got == want
    assert bot.all() == [], "safe calls create no approval requests"


async def test_upstream_progress_reaches_the_client_with_its_own_token(bot):
    seen = []
    async def on_progress(progress, total, message):
        seen.append((progress, total))
    async with session(gateway_params(bot.url, [EVERYTHING])) as gw:
        r = await gw.call_tool("trigger-long-running-operation", {"duration": 1, "steps": 3}, progress_callback=on_progress)
    assert not r.isError
    # Each step is relayed in order under the client's own token; rmcp hands
    # notifications to their own tasks, so the last may trail the result.
    steps = [p for p, _ in seen]
    assert steps[:2] == [1, 2] and steps == sorted(set(steps)) and set(steps) <= {1, 2, 3}, steps


# --- held calls ---------------------------------------------------------------


async def test_write_is_held_then_approved_and_runs(bot, fsroot):
    target = fsroot / "new.txt"
    progress = []
    async def on_progress(p, total, message):
        progress.append(message)
    results = []
    async with session(gateway_params(bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: held_call(gw, "write_file", {"path": str(target), "content": "approved"}, results, progress_callback=on_progress))
            [req] = await anyio.to_thread.run_sync(bot.wait_pending)
            assert req["tool"] == "write_file" and req["risk"] in ("high", "critical")
            assert not target.exists(), "nothing runs before the decision"
            status, _ = bot.decide(req["request_id"], "approve", reason="fine")
            assert status == 200
    [r] = results
    assert not r.isError, r
    assert target.read_text() == "approved"
    record = bot.get(req["request_id"])
    assert record["executed_at"] and record["arguments_executed"] == {"path": str(target), "content": "approved"}
    assert progress and req["request_id"] in progress[0], progress


async def test_rejected_write_does_not_run_and_the_model_reads_why(bot, fsroot):
    target = fsroot / "nope.txt"
    results = []
    async with session(gateway_params(bot.url, [FILESYSTEM, str(fsroot)])) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: held_call(gw, "write_file", {"path": str(target), "content": "x"}, results))
            [req] = await anyio.to_thread.run_sync(bot.wait_pending)
            bot.decide(req["request_id"], "reject", approver="bob", reason="wrong folder")
    [r] = results
    assert r.isError
    assert "rejected by bob: wrong folder" in r.content[0].text
    assert r.structuredContent["status"] == "rejected" and facts(r)["approver"] == "bob"
    assert not target.exists()


async def test_expired_write_does_not_run(bot, fsroot):
    target = fsroot / "late.txt"
    async with session(gateway_params(bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "2")) as gw:
        r = await gw.call_tool("write_file", {"path": str(target), "content": "x"})
    assert r.isError
    assert "not approved in time" in r.content[0].text and "no decision within 2 seconds" in r.content[0].text
    assert not target.exists()


async def test_cancelled_call_withdraws_the_request_and_a_later_click_runs_nothing(bot, fsroot):
    target = fsroot / "cancelled.txt"
    async with session(gateway_params(bot.url, [FILESYSTEM, str(fsroot)])) as gw:
        request_id = gw._request_id  # the id the next request will carry
        async with anyio.create_task_group() as tg:
            async def call():
                with anyio.CancelScope() as scope:
                    holder.append(scope)
                    await gw.call_tool("write_file", {"path": str(target), "content": "x"})
            holder = []
            tg.start_soon(call)
            [req] = await anyio.to_thread.run_sync(bot.wait_pending)
            await gw.send_notification(ClientNotification(CancelledNotification(
                method="notifications/cancelled",
                params=CancelledNotificationParams(requestId=request_id, reason="user pressed stop"),
            )))
            deadline = time.time() + 10
            while bot.get(req["request_id"])["status"] == "pending" and time.time() < deadline:
                await anyio.sleep(0.05)
            holder[0].cancel()
        assert bot.get(req["request_id"])["status"] == "cancelled"
        status, body = bot.decide(req["request_id"], "approve")
        assert status == 409 and body["code"] == "already_decided"
        await anyio.sleep(0.5)
        # The session is still usable, and nothing was written.
        assert (await gw.call_tool("list_allowed_directories", {})).isError is False
    assert not target.exists()


async def test_bot_down_fails_closed(bot, fsroot):
    target = fsroot / "down.txt"
    bot.stop()
    async with session(gateway_params(bot.url, [FILESYSTEM, str(fsroot)])) as gw:
        r = await gw.call_tool("write_file", {"path": str(target), "content": "x"})
        safe = await gw.call_tool("read_text_file", {"path": str(fsroot / "hello.txt")})
    assert r.isError and "approval service could not be asked" in r.content[0].text
    assert not target.exists()
    assert not safe.isError and safe.content[0].text == "hello\n"


async def test_hold_budget_spent_then_the_approved_retry_runs_exactly_once(bot, fsroot):
    target = fsroot / "budget.txt"
    args = {"path": str(target), "content": "once"}
    async with session(gateway_params(bot.url, [FILESYSTEM, str(fsroot)], "--hold-budget", "1")) as gw:
        first = await gw.call_tool("write_file", args)
        # write_file declares an outputSchema, which a success would have to
        # match: the pending answer comes as an error result, facts in _meta.
        assert first.isError and first.content[0].text.startswith("Approval pending")
        assert first.structuredContent is None
        assert facts(first)["status"] == "pending"
        request_id = facts(first)["request_id"]
        assert "approval_status" in first.content[0].text and request_id in first.content[0].text
        # A retry while still pending answers pending again, without a second card.
        again = await gw.call_tool("write_file", args)
        assert facts(again)["request_id"] == request_id
        assert len(bot.all()) == 1
        status = await gw.call_tool("approval_status", {"request_id": request_id})
        assert status.structuredContent["status"] == "pending"
        bot.decide(request_id, "approve")
        status = await gw.call_tool("approval_status", {"request_id": request_id})
        assert status.structuredContent["status"] == "approved"
        ran = await gw.call_tool("write_file", args)
        assert not ran.isError and "Successfully wrote" in ran.content[0].text, ran
        assert target.read_text() == "once"
        target.unlink()
        third = await gw.call_tool("write_file", args)
        assert facts(third)["status"] == "pending"
        assert facts(third)["request_id"] != request_id
    assert not target.exists(), "the third call needed a new approval"
    assert len(bot.all()) == 2


async def test_upstream_killed_mid_session_gives_a_clear_error_then_recovers(bot, fsroot, tmp_path):
    pidfile = tmp_path / "upstream.pid"
    wrapper = tmp_path / "upstream.sh"
    wrapper.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec {FILESYSTEM} {fsroot}\n")
    wrapper.chmod(0o755)
    async with session(gateway_params(bot.url, [str(wrapper)])) as gw:
        ok = await gw.call_tool("read_text_file", {"path": str(fsroot / "hello.txt")})
        assert ok.content[0].text == "hello\n"
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        await anyio.sleep(0.3)
        failed = await gw.call_tool("read_text_file", {"path": str(fsroot / "hello.txt")})
        assert failed.isError and "upstream MCP server" in failed.content[0].text, failed
        deadline = time.time() + 20
        while True:
            r = await gw.call_tool("read_text_file", {"path": str(fsroot / "hello.txt")})
            if not r.isError:
                break
            assert time.time() < deadline, r
            await anyio.sleep(0.5)
        assert r.content[0].text == "hello\n"


async def test_gateway_tools_list_pending_requests(bot, fsroot):
    async with session(gateway_params(bot.url, [FILESYSTEM, str(fsroot)], "--hold-budget", "1")) as gw:
        held = await gw.call_tool("write_file", {"path": str(fsroot / "p.txt"), "content": "x"})
        listing = await gw.call_tool("list_pending_approvals", {})
    ids = [p["request_id"] for p in listing.structuredContent["pending"]]
    assert ids == [facts(held)["request_id"]]
