"""A client's cancellation of a call that already went upstream is passed
upstream: the upstream server sees its own request cancelled."""

import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp.types import CancelledNotification, CancelledNotificationParams, ClientNotification

from conftest import gateway_params, session

pytestmark = pytest.mark.anyio

SLOW_SERVER = str(Path(__file__).parent / "servers" / "slow_server.py")


async def test_cancelling_a_running_call_cancels_it_upstream(bot, tmp_path):
    marker = tmp_path / "cancelled.txt"
    async with session(gateway_params(bot.url, [sys.executable, SLOW_SERVER, str(marker)])) as gw:
        tools = {t.name for t in (await gw.list_tools()).tools}
        assert "slow" in tools
        request_id = gw._request_id  # the id the next request will carry
        async with anyio.create_task_group() as tg:
            scope = anyio.CancelScope()

            async def call():
                with scope:
                    await gw.call_tool("slow", {"seconds": 30})

            tg.start_soon(call)
            await anyio.sleep(1.0)  # the call is running upstream now
            assert not marker.exists()
            await gw.send_notification(ClientNotification(CancelledNotification(
                method="notifications/cancelled",
                params=CancelledNotificationParams(requestId=request_id, reason="user pressed stop"),
            )))
            deadline = time.time() + 10
            while not marker.exists() and time.time() < deadline:
                await anyio.sleep(0.05)
            # Checked while the session (and the upstream) still run, so a
            # shutdown cannot be what cancelled it.
            assert marker.exists(), "the upstream never saw the cancellation"
            scope.cancel()
    assert marker.read_text() == "cancelled"
    assert bot.all() == [], "an allowed call creates no approval request"
