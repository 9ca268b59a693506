"""A minimal MCP server (raw JSON-RPC on stdio) that answers every
`tools/call` of its one tool, `job`, with a task (SEP-2663) whose id it
makes up from its name, and knows only its own tasks: it shows which
upstream a gateway sends `tasks/get` and `tasks/cancel` to."""

import json
import sys

NAME = sys.argv[1]
NOW = "2026-01-01T00:00:00Z"
tasks = {}


def task(tid, status, **extra):
    return {"taskId": tid, "status": status, "createdAt": NOW, "lastUpdatedAt": NOW,
            "ttlMs": None, **extra}


def answer(method, params):
    if method == "initialize":
        return {"protocolVersion": params["protocolVersion"],
                "capabilities": {"tools": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}},
                "serverInfo": {"name": NAME, "version": "1"}}
    if method == "tools/list":
        return {"tools": [{"name": "job", "inputSchema": {"type": "object"}}]}
    if method == "tools/call":
        tid = f"{NAME}-{len(tasks) + 1}"
        tasks[tid] = "working"
        return {"resultType": "task", **task(tid, "working")}
    if method == "tasks/get":
        tid = params["taskId"]
        if tid not in tasks:
            raise KeyError(tid)
        result = {"content": [{"type": "text", "text": f"done by {NAME}"}]}
        return {"resultType": "complete", **task(tid, "completed", result=result)}
    if method == "tasks/cancel":
        tid = params["taskId"]
        if tid not in tasks:
            raise KeyError(tid)
        tasks[tid] = "cancelled"
        return {"resultType": "complete"}
    if method == "ping":
        return {}
    raise LookupError(method)


for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg or "method" not in msg:
        continue
    try:
        out = {"jsonrpc": "2.0", "id": msg["id"], "result": answer(msg["method"], msg.get("params") or {})}
    except KeyError as e:
        out = {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32602, "message": f"{NAME} has no task {e}"}}
    except LookupError as e:
        out = {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": f"no method {e}"}}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
