"""End to end with the gateway and Microsoft Teams: a call the gateway holds
is posted to a Teams channel as an Adaptive Card by the real `hitl-bot`, and
released (or refused) by an `Action.Execute` click, answered with the
refreshed card; expiry and cancellation replace the card.

Microsoft's side runs on 127.0.0.1: a token issuer with its own OpenID
metadata and JWKS whose tokens PyJWT signs (`bot/tests/teams/issuer.py`),
and a fake Bot Connector with its token endpoint, in this process, that
records every call. Every card the bot sends or answers with is checked by
Microsoft's `adaptivecards` library."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest

from conftest import FILESYSTEM, NODE_MODULES, TOKEN, Bot, gateway_params, session

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]
APP_ID = "6e0fb6d4-0f5e-4c9a-9d4f-1a2b3c4d5e6f"
APP_PASSWORD = "fake~client~secret~0123456789"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHANNEL = "19:ops@thread.tacv2"
ANA = "6b3c5e2f-0000-4000-8000-000000000001"
BEN = "6b3c5e2f-0000-4000-8000-000000000002"
CARD = "application/vnd.microsoft.card.adaptive"


class Issuer:
    """The local token issuer (a subprocess), minting Bot Framework tokens."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bot/tests/teams/issuer.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline().strip()
        assert line.startswith("PORT "), f"issuer said {line!r}"
        self.url = f"http://127.0.0.1:{line.split()[1]}"

    def mint(self, claims):
        req = urllib.request.Request(f"{self.url}/mint", data=json.dumps({"claims": claims}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["token"]

    def stop(self):
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


class FakeConnector:
    """The Bot Connector and its token endpoint: the client-credentials grant
    (form-encoded), then `v3/conversations/{id}/activities` with the token it
    issued. Records every call and keeps each activity as the channel shows
    it (replaced by a PUT). `v3/conversations/{id}/members/{userId}` answers
    every user as a member of the tenant with the role `user` (the roster
    the bot asks before letting someone decide a request that names no
    approvers)."""

    def __init__(self):
        self.calls = []
        self.activities = {}
        self.tokens = set()
        self._seq = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                fake._handle(self)

            def do_PUT(self):
                fake._handle(self)

            def do_GET(self):
                fake._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _send(self, req, status, body):
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _handle(self, req):
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0)).decode()
        path = urllib.parse.unquote(urllib.parse.urlsplit(req.path).path)
        with self._lock:
            if path.endswith("/oauth2/v2.0/token"):
                form = dict(urllib.parse.parse_qsl(raw))
                if (form.get("client_id"), form.get("client_secret"), form.get("scope")) != (
                        APP_ID, APP_PASSWORD, "https://api.botframework.com/.default"):
                    return self._send(req, 401, {"error": "invalid_client"})
                token = f"fake-access-token-{len(self.tokens) + 1}"
                self.tokens.add(token)
                return self._send(req, 200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token})
            auth = req.headers.get("Authorization", "")
            if auth.removeprefix("Bearer ") not in self.tokens:
                return self._send(req, 401, {"message": "Authorization has been denied for this request."})
            if req.command == "GET" and "/members/" in path:
                user = path.rsplit("/members/", 1)[1]
                self.calls.append({"method": "GET", "conversation": path.split("/")[4], "target": user,
                                   "id": None, "body": None})
                return self._send(req, 200, {"id": f"29:1{user}", "aadObjectId": user, "name": "Someone",
                                             "tenantId": TENANT, "userRole": "user"})
            body = json.loads(raw or "null")
            parts = path.split("/")  # ['', 'amer', 'v3', 'conversations', conv, 'activities', id?]
            conversation, target = parts[4], (parts[6] if len(parts) > 6 else None)
            if req.command == "PUT":
                activity_id = target
            else:
                self._seq += 1
                activity_id = f"17000000{self._seq:05d}"
            self.calls.append({"method": req.command, "conversation": conversation, "target": target,
                               "id": activity_id, "body": body})
            self.activities[activity_id] = body
            return self._send(req, 200, {"id": activity_id})

    def wait_for(self, what, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._lock:
                for c in self.calls:
                    if pred(c):
                        return c
            time.sleep(0.05)
        raise AssertionError(f"no {what} at the connector: {self.calls}")

    def cards(self):
        with self._lock:
            return [a["content"] for c in self.calls for a in (c["body"] or {}).get("attachments", [])]


def validate(cards):
    """Microsoft's adaptivecards library parses and validates every card."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([{"name": f"card {i}", "card": c} for i, c in enumerate(cards)], f)
    out = subprocess.run(["node", str(REPO / "cards/tests/teams/validate.js"), f.name],
                         env=dict(os.environ, NODE_PATH=str(NODE_MODULES)), capture_output=True, text=True)
    os.unlink(f.name)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def teams():
    issuer, fake = Issuer(), FakeConnector()
    yield issuer, fake
    fake.stop()
    issuer.stop()


@pytest.fixture
def teams_bot(tmp_path, teams):
    issuer, fake = teams
    b = Bot(tmp_path, env={
        "TEAMS_APP_ID": APP_ID,
        "TEAMS_APP_PASSWORD": APP_PASSWORD,
        "TEAMS_TENANT_ID": TENANT,
        "TEAMS_SERVICE_URL": f"{fake.url}/amer/",
        "TEAMS_CONVERSATION_ID": CHANNEL,
        "TEAMS_TOKEN_URL": f"{fake.url}/{TENANT}/oauth2/v2.0/token",
        "TEAMS_OPENID_URL": f"{issuer.url}/botframework/openid",
        "TEAMS_ALLOWED_SERVICE_URLS": fake.url,
    }).start()
    b.answered = []
    yield b
    b.stop()
    validate(fake.cards() + b.answered)


# --- helpers ----------------------------------------------------------------------


def card_of(call):
    return call["body"]["attachments"][0]["content"]


def request_id_of(card):
    """The request id the card's Approve button carries."""
    def walk(node):
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, dict) and data.get("decision") == "approve":
                yield data["requestId"]
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
    found = list(walk(card))
    assert found, f"no Approve button on {json.dumps(card)}"
    return found[0]


def has_buttons(card):
    return "Action.Execute" in json.dumps(card)


def wait_card(fake):
    call = fake.wait_for("request card", lambda c: c["method"] == "POST" and c["target"] is None
                         and has_buttons(card_of(c)))
    assert call["conversation"] == CHANNEL
    return call["id"], request_id_of(card_of(call))


def click(bot, issuer, fake, who, request_id, decision, reason=None, activity_id=None):
    """An Action.Execute invoke on the card, signed by the issuer."""
    data = {"requestId": request_id, "decision": decision}
    if reason is not None:
        data["reason"] = reason
    activity = {
        "type": "invoke", "name": "adaptiveCard/action", "id": activity_id or f"f:{time.time_ns()}",
        "serviceUrl": f"{fake.url}/amer/", "channelId": "msteams",
        "from": {"id": f"29:1{who}", "name": "Someone", "aadObjectId": who},
        "conversation": {"conversationType": "channel", "tenantId": TENANT, "id": f"{CHANNEL};messageid=1", "isGroup": True},
        "recipient": {"id": f"28:{APP_ID}", "name": "hitl"},
        "channelData": {"tenant": {"id": TENANT}},
        "value": {"action": {"type": "Action.Execute", "verb": decision, "data": data}, "trigger": "manual"},
    }
    now = int(time.time())
    token = issuer.mint({"iss": "https://api.botframework.com", "aud": APP_ID, "exp": now + 600,
                         "nbf": now - 60, "serviceurl": f"{fake.url}/amer/"})
    req = urllib.request.Request(f"{bot.url}/teams/messages", data=json.dumps(activity).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        status, body = resp.status, json.loads(resp.read())
    if body.get("type") == CARD:
        bot.answered.append(body["value"])
    return status, body


def wait_replaced(fake, activity_id, says):
    put = fake.wait_for("card replacement", lambda c: c["method"] == "PUT" and c["target"] == activity_id
                        and says in json.dumps(c["body"]))
    assert not has_buttons(card_of(put)), put
    return card_of(put)


async def held_write(gw, path, content, results):
    results.append(await gw.call_tool("write_file", {"path": str(path), "content": content}))


async def wait_result(results, timeout=20):
    with anyio.fail_after(timeout):
        while not results:
            await anyio.sleep(0.02)
    return results[0]


# --- tests --------------------------------------------------------------------------


async def test_a_held_call_is_released_by_an_action_execute_click(teams_bot, teams, fsroot):
    issuer, fake = teams
    target = fsroot / "clicked.txt"
    results = []
    async with session(gateway_params(teams_bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(held_write, gw, target, "approved in Teams", results)
            activity_id, request_id = await anyio.to_thread.run_sync(wait_card, fake)
            assert not target.exists() and not results, "nothing runs before the click"
            status, body = await anyio.to_thread.run_sync(
                lambda: click(teams_bot, issuer, fake, ANA, request_id, "approve"))
            assert status == 200
            assert body["statusCode"] == 200 and body["type"] == CARD, body
            assert not has_buttons(body["value"]), "the refreshed card is the decided one"
            r = await wait_result(results)
    assert not r.isError, r
    assert target.read_text() == "approved in Teams"
    record = teams_bot.get(request_id)
    assert record["status"] == "approved" and record["approver"] == f"teams:{ANA}"
    await anyio.to_thread.run_sync(lambda: wait_replaced(fake, activity_id, "Approved"))

    # A later click by someone else changes nothing.
    status, body = await anyio.to_thread.run_sync(
        lambda: click(teams_bot, issuer, fake, BEN, request_id, "reject", "too late"))
    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message", body
    assert "already approved" in body["value"]
    after = teams_bot.get(request_id)
    assert (after["status"], after["approver"], after["decided_at"]) == ("approved", f"teams:{ANA}", record["decided_at"])


async def test_a_reject_with_a_reason_refuses_the_call_and_the_agent_reads_why(teams_bot, teams, fsroot):
    issuer, fake = teams
    target = fsroot / "rejected.txt"
    results = []
    async with session(gateway_params(teams_bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(held_write, gw, target, "x", results)
            activity_id, request_id = await anyio.to_thread.run_sync(wait_card, fake)
            status, body = await anyio.to_thread.run_sync(
                lambda: click(teams_bot, issuer, fake, BEN, request_id, "reject", "wrong folder"))
            assert status == 200 and body["type"] == CARD, body
            r = await wait_result(results)
    assert r.isError, r
    assert "wrong folder" in r.content[0].text, r.content[0].text
    assert not target.exists()
    record = teams_bot.get(request_id)
    assert (record["status"], record["approver"], record["reason"]) == ("rejected", f"teams:{BEN}", "wrong folder")
    await anyio.to_thread.run_sync(lambda: wait_replaced(fake, activity_id, "wrong folder"))


async def test_expiry_rewrites_the_card(teams_bot, teams, fsroot):
    _, fake = teams
    results = []
    async with session(gateway_params(teams_bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "2")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(held_write, gw, fsroot / "late.txt", "x", results)
            activity_id, request_id = await anyio.to_thread.run_sync(wait_card, fake)
            r = await wait_result(results, timeout=30)
    assert r.isError, r
    assert teams_bot.get(request_id)["status"] == "expired"
    await anyio.to_thread.run_sync(lambda: wait_replaced(fake, activity_id, "xpired"))


async def test_a_cancelled_request_rewrites_the_card(teams_bot, teams):
    _, fake = teams
    status, created = teams_bot.api("POST", "/v1/approvals", {
        "request_id": "apr_cancel_teams", "tool": "deploy", "risk": "high", "arguments": {"env": "prod"},
        "requester": "agent", "timeout_secs": 120})
    assert status == 201, created
    activity_id, request_id = wait_card(fake)
    assert request_id == "apr_cancel_teams"
    status, _ = teams_bot.api("POST", f"/v1/approvals/{request_id}/cancel", {})
    assert status == 200
    assert teams_bot.get(request_id)["status"] == "cancelled"
    wait_replaced(fake, activity_id, "ithdrawn")
