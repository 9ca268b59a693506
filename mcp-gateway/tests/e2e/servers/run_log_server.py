"""A tiny MCP server (the official Python SDK's FastMCP) whose `record` tool
appends its tag to a file, and whose `fence` tool marks a point in that
log: it shows whether a call reached the upstream, and in what order."""

import sys
import time

from mcp.server.fastmcp import FastMCP

log = open(sys.argv[1], "a", buffering=1)
server = FastMCP("run-log")


@server.tool()
def record(tag: str) -> str:
    """Writes `tag` to the run log."""
    log.write(f"{tag} {time.time():.6f}\n")
    return f"ran {tag}"


@server.tool()
def fence(tag: str) -> str:
    """Writes `fence TAG` to the run log: what was sent before it ran before it."""
    log.write(f"fence {tag} {time.time():.6f}\n")
    return f"fence {tag}"


if __name__ == "__main__":
    server.run("stdio")
