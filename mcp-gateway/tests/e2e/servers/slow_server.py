"""A tiny MCP server (the official Python SDK's FastMCP) whose `slow` tool
waits until cancelled and then writes a marker file: it shows whether a
client's cancellation reached the upstream through the gateway."""

import sys
from pathlib import Path

import anyio
from mcp.server.fastmcp import FastMCP

marker = Path(sys.argv[1])
server = FastMCP("slow")


@server.tool()
async def slow(seconds: float = 30.0) -> str:
    """Waits `seconds`, or until the call is cancelled."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        marker.write_text("cancelled")
        raise
    return "done"


if __name__ == "__main__":
    server.run("stdio")
