"""Cancel wins over a concurrent approval: once the gateway has the client's
cancel, the held call is never sent upstream, however the approval races it.

Each round holds a call, then sends the approval and the cancel at the same
moment, then a ping: the gateway handles a session's messages in order, so
once the ping is answered it has the cancel. Then an allowed `fence` call
goes to the same upstream, which runs calls in the order they arrive: a
held call the upstream logs after its round's fence was sent upstream after
the gateway had its cancel."""

import random
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp.types import CancelledNotification, CancelledNotificationParams, ClientNotification

from conftest import gateway_params, session

pytestmark = pytest.mark.anyio

RUN_LOG_SERVER = str(Path(__file__).parent / "servers" / "run_log_server.py")
ROUNDS = int(__import__("os").environ.get("HITL_RACE_ROUNDS", "1000"))
HOLD = ('[[rule]]\nname = "hold"\ntool = "record"\nrisk = "high"\naction = "require_approval"\n'
        '[[rule]]\nname = "fence"\ntool = "fence"\naction = "allow"\n')


async def test_no_call_runs_after_its_cancel_in_1000_racing_rounds(bot, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text(HOLD)
    runs = tmp_path / "runs.log"
    params = gateway_params(bot.url, [sys.executable, RUN_LOG_SERVER, str(runs)], "--config", str(config))
    async with session(params) as gw:
        for i in range(ROUNDS):
            tag = f"r{i}"
            request_id = gw._request_id  # the id the next request carries
            scope = anyio.CancelScope()

            async def call():
                with scope:
                    await gw.call_tool("record", {"tag": tag})

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                approval = await anyio.to_thread.run_sync(lambda: wait_for(bot, tag))
                async with anyio.create_task_group() as race:
                    race.start_soon(anyio.to_thread.run_sync, lambda: bot.decide(approval, "approve"))
                    race.start_soon(cancel_after, gw, request_id, random.uniform(0, 0.03))
                await gw.send_ping()
                await gw.call_tool("fence", {"tag": tag})
                # The call was cancelled: its answer, if any, does not matter.
                scope.cancel()
    await anyio.sleep(1)  # anything still on its way upstream lands
    late = []
    ran = 0
    fenced = set()
    for line in runs.read_text().splitlines():
        words = line.split()
        if words[0] == "fence":
            fenced.add(words[1])
            continue
        ran += 1
        if words[0] in fenced:
            late.append(words[0])
    print(f"{ROUNDS} rounds: {ran} ran before their cancel arrived, {len(late)} after")
    # Both sides won some rounds, or the race was not a race.
    assert 0 < ran < ROUNDS, f"{ran} of {ROUNDS} ran"
    assert late == [], f"{len(late)} calls ran after the gateway had their cancel: {late[:5]}"


async def cancel_after(gw, request_id, delay):
    # Spread over the approval's way to the gateway, so that either wins.
    await anyio.sleep(delay)
    await gw.send_notification(ClientNotification(CancelledNotification(
        method="notifications/cancelled",
        params=CancelledNotificationParams(requestId=request_id, reason="race"),
    )))


def wait_for(bot, tag, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for r in bot.pending():
            if r["arguments"].get("tag") == tag:
                return r["request_id"]
        time.sleep(0.005)
    raise AssertionError(f"no pending request for {tag}")
