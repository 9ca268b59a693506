"""End-to-end fixtures: the real `hitl-bot` and `hitl-mcp` binaries, the
official MCP servers from npm as upstreams, and the official Python MCP SDK
as the client. Run through ./scripts/test, which builds the binaries and sets
HITL_BIN_DIR and HITL_NODE_MODULES."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TOKEN = "e2e-token-0123456789"


def _need(var):
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"set {var} (./scripts/test does this)")
    return Path(value)


BIN_DIR = _need("HITL_BIN_DIR")
NODE_MODULES = _need("HITL_NODE_MODULES")
HITL_BOT = str(BIN_DIR / "hitl-bot")
HITL_MCP = str(BIN_DIR / "hitl-mcp")
EVERYTHING = str(NODE_MODULES / ".bin" / "mcp-server-everything")
FILESYSTEM = str(NODE_MODULES / ".bin" / "mcp-server-filesystem")


@pytest.fixture
def anyio_backend():
    return "asyncio"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bot:
    """A running `hitl-bot serve` and a small client of its HTTP API."""

    def __init__(self, tmp_path, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = tmp_path / "bot-data"
        self.env = env or {}
        self.proc = None

    def start(self):
        env = dict(os.environ, HITL_TOKEN=TOKEN, RUST_LOG="warn", **self.env)
        self.proc = subprocess.Popen(
            [HITL_BOT, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1)
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise RuntimeError("hitl-bot did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def api(self, method, path, body=None, token=TOKEN):
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def pending(self):
        return self.api("GET", "/v1/approvals?status=pending")[1]["approvals"]

    def wait_pending(self, count=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.pending()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} pending request(s), found {self.pending()}")

    def approver_token(self, who):
        """An approver credential for `who`, made as an operator would."""
        tokens = self.__dict__.setdefault("_approvers", {})
        if who not in tokens:
            out = subprocess.run(
                [HITL_BOT, "token", "create", "--approver", who, "--data-dir", str(self.data_dir)],
                env=dict(os.environ, HITL_TOKEN=TOKEN, **self.env),
                capture_output=True, text=True, check=True,
            )
            tokens[who] = out.stdout.strip().splitlines()[-1]
        return tokens[who]

    def decide(self, request_id, action, approver="alice", reason=None):
        body = {"action": action}
        if reason:
            body["reason"] = reason
        return self.api("POST", f"/v1/approvals/{request_id}/decision", body,
                        token=self.approver_token(approver))

    def get(self, request_id):
        return self.api("GET", f"/v1/approvals/{request_id}")[1]

    def all(self):
        return self.api("GET", "/v1/approvals?limit=1000")[1]["approvals"]


@pytest.fixture
def bot(tmp_path):
    b = Bot(tmp_path).start()
    yield b
    b.stop()


def gateway_params(bot_url, upstream, *args, env=None):
    return StdioServerParameters(
        command=HITL_MCP,
        args=["serve", *args, "--", *upstream],
        env=dict(os.environ, HITL_APPROVAL_URL=bot_url, HITL_TOKEN=TOKEN, RUST_LOG="warn", **(env or {})),
    )


@contextlib.asynccontextmanager
async def session(params):
    """An initialized MCP client session over stdio."""
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            yield s


@pytest.fixture
def fsroot(tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    return root
