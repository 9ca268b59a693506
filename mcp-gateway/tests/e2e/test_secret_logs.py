"""Nothing secret in any log, at the most verbose level: the real `hitl-bot`
and `hitl-mcp` run with RUST_LOG=trace (and the gateway with --debug) through
a held call approved and released, a rejected one, bad tokens, Slack and
Teams requests, and upstreams and channels that fail. Distinctive canary
values are planted in every secret the binaries are given (API tokens,
Slack signing secret and bot token, Teams app password and webhook secret,
userinfo and query strings of URLs, tool arguments); every log line they
write is scanned and none may carry a canary."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import contextlib

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import FILESYSTEM, HITL_BOT, HITL_MCP, Bot, free_port, session

pytestmark = pytest.mark.anyio

# Distinctive values: none can occur in a log by chance.
API_TOKEN = "cnry-apitoken-7Q2mX9vK4pL8sW1z"
TOKEN_PREVIOUS = "cnry-prevtoken-3Hf8Jd2Ks9Lq0Wb"
BAD_TOKEN = "cnry-badtoken-5Tg7Yh1Uj3Ik9Ol"
SLACK_SIGNING = "cnry-slacksign-9Zx8Cv7Bn6Mm5Qa"
SLACK_BOT = "xoxb-cnry-slackbot-2Ws3Ed4Rf5Tg"
SLACK_APP = "xapp-cnry-slackapp-6Yh7Uj8Ik9Ol"
TEAMS_PASSWORD = "cnry-teamspass-1Qa2Ws3Ed4Rf5Tg"
TEAMS_WEBHOOK_RAW = b"cnry-teamshook-8Ik9Ol0Pp1Aa2Ss"
TEAMS_WEBHOOK = base64.b64encode(TEAMS_WEBHOOK_RAW).decode()
URL_PASSWORD = "cnry-urlpass-4Df5Gh6Jk7Ll8Zx"
URL_QUERY = "cnry-urlquery-0Mn9Bv8Cx7Zl6Kj"
ARG_VALUE = "cnry-argvalue-3Ee4Rr5Tt6Yy7Uu"
REJECT_VALUE = "cnry-rejected-1Aa2Bb3Cc4Dd5Ee"

CANARIES = [
    API_TOKEN, TOKEN_PREVIOUS, BAD_TOKEN, SLACK_SIGNING, SLACK_BOT, SLACK_APP,
    TEAMS_PASSWORD, TEAMS_WEBHOOK, TEAMS_WEBHOOK_RAW.decode(), URL_PASSWORD,
    URL_QUERY, ARG_VALUE, REJECT_VALUE,
]

TRACE = {"RUST_LOG": "trace", "RUST_BACKTRACE": "1"}


def closed_port():
    return free_port()  # bound and released: nothing listens there


def secret_url(path=""):
    """A URL whose userinfo and query string are secret, to a closed port."""
    return f"http://hitl:{URL_PASSWORD}@127.0.0.1:{closed_port()}/{path}?key={URL_QUERY}"


def scan(logs):
    """Every line of every log; the offending lines with the canary masked."""
    lines, leaks = 0, []
    for name, text in logs.items():
        for n, line in enumerate(text.splitlines(), 1):
            lines += 1
            found = [c for c in CANARIES if c in line]
            for c in found:
                line = line.replace(c, "<" + c[:9] + "…>")
            if found:
                leaks.append(f"{name}:{n}: {line}")
    return lines, leaks


class TraceBot(Bot):
    """`hitl-bot serve` at trace level with every secret set, its stdout and
    stderr captured."""

    def __init__(self, tmp_path, env):
        super().__init__(tmp_path, env)
        self.log = tmp_path / "hitl-bot.log"

    def start(self):
        env = dict(os.environ, HITL_TOKEN=API_TOKEN, USER="alice", **TRACE, **self.env)
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [HITL_BOT, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hitl-bot exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1)
                # The local approver credential the service made: a secret too.
                self.approver_token = (self.data_dir / "approver-token").read_text().strip()
                CANARIES.append(self.approver_token)
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise RuntimeError("hitl-bot did not start")

    def api(self, method, path, body=None, token=API_TOKEN):
        req = urllib.request.Request(
            f"{self.url}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def decide(self, request_id, action, approver="alice", reason=None):
        body = {"action": action, "approver": approver, "reason": reason}
        return self.api("POST", f"/v1/approvals/{request_id}/decision", body, token=self.approver_token)

    def raw(self, path, body, headers):
        req = urllib.request.Request(f"{self.url}{path}", method="POST", data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self):
        super().stop()
        self._log.close()


def slack_signed(secret, body, ts=None):
    ts = ts or str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded"}


def gateway(bot_url, upstream, *args):
    return StdioServerParameters(
        command=HITL_MCP, args=["serve", "--debug", *args, "--", *upstream],
        env=dict(os.environ, HITL_APPROVAL_URL=bot_url, HITL_TOKEN=API_TOKEN, **TRACE),
    )


@contextlib.asynccontextmanager
async def logged_session(params, errlog):
    """An initialized MCP session whose server stderr goes to `errlog`."""
    with open(errlog, "w") as f:
        async with stdio_client(params, errlog=f) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                yield s


async def held(gw, args, results):
    results.append(await gw.call_tool("write_file", args))


async def test_no_secret_reaches_any_log_at_trace_level(tmp_path, fsroot):
    bot = TraceBot(tmp_path, env={
        "HITL_TOKEN_PREVIOUS": TOKEN_PREVIOUS,
        "SLACK_SIGNING_SECRET": SLACK_SIGNING,
        "SLACK_BOT_TOKEN": SLACK_BOT,
        "SLACK_CHANNEL": "#approvals",
        # Slack's Web API is down: every post fails.
        "SLACK_API_URL": f"http://127.0.0.1:{closed_port()}/api/",
        # Teams is on, and its token endpoint is down: every post fails
        # after asking for a token with the app's password.
        "TEAMS_APP_ID": "00000000-0000-0000-0000-00000000cafe",
        "TEAMS_APP_PASSWORD": TEAMS_PASSWORD,
        "TEAMS_WEBHOOK_SECRET": TEAMS_WEBHOOK,
        "TEAMS_TOKEN_URL": f"http://127.0.0.1:{closed_port()}/token",
    }).start()
    logs = {}
    gwlog = tmp_path / "hitl-mcp-flow.log"
    try:
        # Bad tokens on the API; the previous token still works.
        for token in (BAD_TOKEN, API_TOKEN + "x", ""):
            assert bot.api("GET", "/v1/approvals", token=token)[0] == 401
        assert bot.api("GET", "/v1/approvals", token=TOKEN_PREVIOUS)[0] == 200

        # Slack: a click signed with a wrong secret, and a stale one.
        body = "payload=" + json.dumps({"type": "block_actions", "token": BAD_TOKEN})
        assert bot.raw("/slack/interactions", body.encode(), slack_signed(BAD_TOKEN, body)) == 401
        assert bot.raw("/slack/interactions", body.encode(), slack_signed(SLACK_SIGNING, body, "1000")) == 401

        # A held call approved and released; a rejected one.
        approved, rejected = fsroot / "approved.txt", fsroot / "rejected.txt"
        results = []
        async with logged_session(gateway(bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60"), gwlog) as gw:
            async with anyio.create_task_group() as tg:
                tg.start_soon(held, gw, {"path": str(approved), "content": ARG_VALUE}, results)
                [req] = await anyio.to_thread.run_sync(bot.wait_pending)
                assert bot.decide(req["request_id"], "approve", reason="fine")[0] == 200
            async with anyio.create_task_group() as tg:
                tg.start_soon(held, gw, {"path": str(rejected), "content": REJECT_VALUE}, results)
                [req] = await anyio.to_thread.run_sync(bot.wait_pending)
                assert bot.decide(req["request_id"], "reject", reason="no")[0] == 200
        assert approved.read_text() == ARG_VALUE and not rejected.exists()
        assert [r.isError for r in results] == [False, True]
    finally:
        bot.stop()
    logs["hitl-bot serve"] = bot.log.read_text()
    logs["hitl-mcp serve (approved and rejected calls)"] = gwlog.read_text()

    # A Slack API URL with userinfo and a query string is refused at start
    # (the HTTP client logs request URLs), without repeating them.
    out = subprocess.run(
        [HITL_BOT, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "refused")],
        env=dict(os.environ, HITL_TOKEN=API_TOKEN, SLACK_BOT_TOKEN=SLACK_BOT, SLACK_SIGNING_SECRET=SLACK_SIGNING,
                 SLACK_API_URL=secret_url("api/"), **TRACE),
        capture_output=True, timeout=30,
    )
    assert out.returncode != 0 and "SLACK_API_URL" in out.stderr.decode(), out
    logs["hitl-bot serve (secret SLACK_API_URL refused)"] = out.stderr.decode() + out.stdout.decode()

    # So is a Teams token URL that carries them.
    out = subprocess.run(
        [HITL_BOT, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "refused-teams")],
        env=dict(os.environ, HITL_TOKEN=API_TOKEN, TEAMS_APP_ID="00000000-0000-0000-0000-00000000cafe",
                 TEAMS_APP_PASSWORD=TEAMS_PASSWORD, TEAMS_TOKEN_URL=secret_url("token"), **TRACE),
        capture_output=True, timeout=30,
    )
    assert out.returncode != 0 and "TEAMS_TOKEN_URL" in out.stderr.decode(), out
    logs["hitl-bot serve (secret TEAMS_TOKEN_URL refused)"] = out.stderr.decode() + out.stdout.decode()

    # The gateway with a token the service refuses, in front of an upstream
    # URL that fails: both URLs carry secrets.
    out = subprocess.run(
        [HITL_MCP, "serve", "--debug", "--approval-url", bot.url, "--upstream-url", secret_url("mcp")],
        env=dict(os.environ, HITL_TOKEN=BAD_TOKEN, **TRACE), input=b"", capture_output=True, timeout=60,
    )
    logs["hitl-mcp serve --upstream-url (failing)"] = out.stderr.decode(errors="replace")

    # The gateway over stdio with its approval service unreachable at a
    # secret URL: the risky call fails closed.
    downlog = tmp_path / "hitl-mcp-down.log"
    params = StdioServerParameters(
        command=HITL_MCP, args=["serve", "--debug", "--timeout", "5", "--", FILESYSTEM, str(fsroot)],
        env=dict(os.environ, HITL_APPROVAL_URL=secret_url(), HITL_TOKEN=BAD_TOKEN, **TRACE),
    )
    try:
        async with logged_session(params, downlog) as gw:
            r = await gw.call_tool("write_file", {"path": str(fsroot / "x.txt"), "content": ARG_VALUE})
            assert r.isError, "an unreachable approval service fails closed"
    except Exception:  # the gateway may refuse the URL at start: its log is what counts
        pass
    assert not (fsroot / "x.txt").exists()
    logs["hitl-mcp serve (approval service down)"] = downlog.read_text()

    lines, leaks = scan(logs)
    per_log = ", ".join(f"{name}: {len(text.splitlines())}" for name, text in logs.items())
    print(f"secret scan: {lines} log lines ({per_log}), {len(CANARIES)} canaries, {len(leaks)} leaked")
    assert not leaks, "secrets in logs:\n" + "\n".join(leaks)
    for name, text in logs.items():
        assert text.strip(), f"{name}: no log at all, so nothing was scanned"
