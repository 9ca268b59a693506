"""Exact pass-through, seen on the wire: a client speaking raw JSON-RPC over
stdio gets the same `tools/list` and `tools/call` JSON through the gateway
as from the official "everything" server itself (every field, `execution`
and fields no SDK knows included), the gateway's two tools the only
addition."""

import json
import os
import subprocess

import pytest

from conftest import EVERYTHING, HITL_MCP, TOKEN

GATEWAY_TOOLS = {"approval_status", "list_pending_approvals"}
FULL_CAPS = {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {}}


class RawClient:
    """A JSON-RPC client on a child's stdio that answers the server's own
    requests (roots, sampling, elicitation) plainly."""

    def __init__(self, cmd, env=None):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.next_id = 1

    def send(self, message):
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method, params=None):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        while True:
            line = self.proc.stdout.readline()
            assert line, f"the server closed stdout before answering {method}"
            msg = json.loads(line)
            if "method" in msg and "id" in msg:
                answer = {"roots": []} if msg["method"] == "roots/list" else {}
                self.send({"jsonrpc": "2.0", "id": msg["id"], "result": answer})
            elif msg.get("id") == rid:
                assert "error" not in msg, msg
                return msg["result"]

    def initialize(self, version="2025-11-25", caps=None):
        result = self.request("initialize", {
            "protocolVersion": version, "capabilities": caps if caps is not None else FULL_CAPS,
            "clientInfo": {"name": "raw-json", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def gateway_cmd(bot):
    env = dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn")
    return [HITL_MCP, "serve", "--", EVERYTHING], env


def both(bot, run, **init):
    direct = RawClient([EVERYTHING])
    direct.initialize(**init)
    cmd, env = gateway_cmd(bot)
    gateway = RawClient(cmd, env)
    gateway.initialize(**init)
    try:
        return run(direct), run(gateway)
    finally:
        direct.close()
        gateway.close()


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_tools_list_is_the_upstreams_json_plus_the_gateway_tools(bot, version):
    want, got = both(bot, lambda c: c.request("tools/list"), version=version)
    mine = [t for t in got["tools"] if t["name"] in GATEWAY_TOOLS]
    assert {t["name"] for t in mine} == GATEWAY_TOOLS
    got["tools"] = [t for t in got["tools"] if t["name"] not in GATEWAY_TOOLS]
    assert got == want
    # The fields rmcp does not model are there, as the upstream sent them.
    assert any("execution" in t for t in want["tools"]), "the upstream marks task support"


def test_tool_results_are_the_upstreams_json(bot):
    calls = [
        ("echo", {"message": "hi <b> & \"quoted\" \u00e9 \u2028"}),
        ("get-sum", {"a": 2, "b": 40}),
        ("get-structured-content", {"location": "Chicago"}),
        ("get-tiny-image", {}),
        ("get-annotated-message", {"messageType": "error", "includeImage": True}),
        ("get-resource-links", {"count": 3}),
    ]
    def run(c):
        return [c.request("tools/call", {"name": n, "arguments": a}) for n, a in calls]
    want, got = both(bot, run)
    assert got == want


TASK_SERVER = os.path.join(os.path.dirname(__file__), "servers", "task_server.py")
TASKS_EXT = {"io.modelcontextprotocol/tasks": {}}


def test_task_methods_go_to_the_upstream_that_made_the_task(bot, tmp_path):
    python = os.environ.get("HITL_TEST_PYTHON", "python3")
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(
        '[[rule]]\nname = "jobs"\ntool = "job"\nrisk = "low"\naction = "allow"\n\n'
        + "".join(f'[[servers]]\nname = "{n}"\ncommand = {json.dumps([python, TASK_SERVER, n])}\n\n'
                  for n in ("alpha", "beta")))
    cmd, env = gateway_cmd(bot)
    cmd = [HITL_MCP, "serve", "--config", str(cfg)]
    gw = RawClient(cmd, env)
    try:
        gw.initialize(caps={"extensions": TASKS_EXT})
        names = {t["name"] for t in gw.request("tools/list")["tools"]}
        assert {"alpha__job", "beta__job"} <= names
        made = {}
        for server in ("beta", "alpha"):
            created = gw.request("tools/call", {"name": f"{server}__job", "arguments": {}})
            assert created["status"] == "working", created
            made[server] = created["taskId"]
        assert made == {"beta": "beta-1", "alpha": "alpha-1"}
        for server, tid in made.items():
            got = gw.request("tasks/get", {"taskId": tid})
            assert got["status"] == "completed"
            assert got["result"]["content"][0]["text"] == f"done by {server}"
        gw.request("tasks/cancel", {"taskId": "beta-1"})
        # An id no upstream made for this session is no task at all.
        gw.send({"jsonrpc": "2.0", "id": 99, "method": "tasks/get", "params": {"taskId": "gamma-1"}})
        while True:
            msg = json.loads(gw.proc.stdout.readline())
            if msg.get("id") == 99:
                break
        assert "no task" in msg["error"]["message"]
    finally:
        gw.close()


def sse_json(data):
    """The JSON-RPC message of a response body, JSON or one SSE event."""
    text = data.decode()
    if text.lstrip().startswith("{"):
        return json.loads(text)
    events = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    return json.loads([e for e in events if e][-1])


def test_tools_list_over_http_is_the_upstreams_json_too(bot):
    import http.client

    from conftest import free_port
    from test_http import wait_port
    from test_wire import open_session, post

    direct = RawClient([EVERYTHING])
    want = None
    try:
        direct.initialize(version="2025-06-18", caps={})
        want = direct.request("tools/list")
    finally:
        direct.close()
    port = free_port()
    env = dict(os.environ, HITL_APPROVAL_URL=bot.url, HITL_TOKEN=TOKEN, RUST_LOG="warn")
    proc = subprocess.Popen([HITL_MCP, "serve", "--listen", f"127.0.0.1:{port}", "--", EVERYTHING], env=env)
    try:
        wait_port(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sid = open_session(conn)
        resp, data = post(conn, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sid)
        assert resp.status == 200
        got = sse_json(data)["result"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    got["tools"] = [t for t in got["tools"] if t["name"] not in GATEWAY_TOOLS]
    assert got == want
    assert any("execution" in t for t in got["tools"])
