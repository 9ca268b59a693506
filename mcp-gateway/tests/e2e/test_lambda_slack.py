"""End to end on Lambda: the real `hitl-bot` runs as a Lambda function (the
container image's start: no arguments, image command `api` in `_HANDLER`)
under a fake of the Lambda Runtime API that speaks the real protocol, and a
function URL in front of it turns plain HTTP requests into function URL
events (payload format 2.0) as AWS sends them. The real `hitl-mcp` gateway
points its approval URL at that function URL and holds a call; a signed
Slack click, delivered as a function URL event, releases it.

Two execution environments of the function share one data folder, as
Lambda runs a second one while the first is busy: the gateway's long-poll
keeps one of them, the click lands on the other. Long-polls are capped at
a few seconds (`HITL_LAMBDA_MAX_WAIT_SECS`), so the gateway polls again
while the call is held.

Slack's Web API is the fake of test_slack.py, answering the workspace
look-ups too (the click is decided by the default deciders: full members
of the card's channel); signatures are made by Python slack_sdk."""

import base64
import json
import os
import queue
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest
from slack_sdk.signature import SignatureVerifier

from conftest import FILESYSTEM, HITL_BOT, TOKEN, gateway_params, session
from test_slack import (
    BOT_TOKEN, CHANNEL, SIGNING_SECRET, TEAM, FakeSlack, assert_card_finished, click, has_buttons,
    held_write, interaction_body, wait_card, wait_result,
)

pytestmark = pytest.mark.anyio

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hitl-api"
URL_HOST = "abcdefghij.lambda-url.us-east-1.on.aws"
CAP_SECS = 3
MEMBERS = ["U0ALICE", "U0BOT"]


# --- the Lambda Runtime API -------------------------------------------------------


class Runtime:
    """The Lambda Runtime API on 127.0.0.1 (`AWS_LAMBDA_RUNTIME_API`): each
    execution environment asks `GET /2018-06-01/runtime/invocation/next`,
    which is held until there is an event, and answers it with `POST
    .../invocation/{id}/response` or `.../{id}/error`. Events go to whichever
    environment asks first, as Lambda's do to an idle one."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = {}  # request id -> queue of one (ok, payload)
        self.waiting = 0  # environments blocked in /next
        self.init_errors = []
        self._lock = threading.Condition()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self._reply(404, {"errorMessage": "unknown path"})
                with runtime._lock:
                    runtime.waiting += 1
                    runtime._lock.notify_all()
                rid, event = runtime.events.get()
                with runtime._lock:
                    runtime.waiting -= 1
                data = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-67a1b2c3-0123456789abcdef01234567;Sampled=0")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                m = re.fullmatch(r"/2018-06-01/runtime/invocation/([^/]+)/(response|error)", self.path)
                if self.path == "/2018-06-01/runtime/init/error":
                    runtime.init_errors.append(body.decode(errors="replace"))
                elif m and m.group(1) in runtime.answers:
                    payload = json.loads(body) if body else None
                    runtime.answers[m.group(1)].put((m.group(2) == "response", payload))
                else:
                    return self._reply(400, {"errorMessage": "unknown invocation"})
                self._reply(202, {"status": "OK"})

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.api = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event, timeout=30):
        """Queues `event`; (ok, payload) once an environment answered."""
        rid = str(uuid.uuid4())
        self.answers[rid] = queue.Queue(maxsize=1)
        self.events.put((rid, event))
        try:
            return self.answers[rid].get(timeout=timeout)
        finally:
            del self.answers[rid]

    def wait_idle(self, count, timeout=20):
        """Until `count` environments have started and ask for work."""
        deadline = time.time() + timeout
        with self._lock:
            while self.waiting < count:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"{self.waiting} of {count} environments started; init errors: {self.init_errors}")
                self._lock.wait(left)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- the function URL -----------------------------------------------------------------

# Content types a function URL passes as text; any other body arrives
# base64-encoded (Slack's form-encoded interactions among them).
TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript)|application/[\w.+-]+\+(json|xml))$")


def url_event(method, target, headers, body, source_ip="203.0.113.7"):
    """A function URL event (payload format 2.0) for one HTTP request, as
    AWS builds it: header names lower-cased, repeated headers joined with
    commas, cookies apart, the host the function URL's, the body as text or
    base64."""
    path, _, query = target.partition("?")
    lowered, cookies = {}, []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif name in lowered:
            lowered[name] += "," + value
        else:
            lowered[name] = value
    lowered.update({
        "host": URL_HOST,
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "x-forwarded-for": source_ip,
        "x-amzn-trace-id": "Root=1-67a1b2c3-0123456789abcdef01234567",
    })
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": URL_HOST,
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {k: v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    if body:
        ctype = lowered.get("content-type", "").split(";")[0].strip().lower()
        if TEXT_TYPES.match(ctype):
            event["body"] = body.decode()
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


class FunctionUrl:
    """A function URL on 127.0.0.1: each request becomes one invocation of
    the function and its answer the HTTP response, as AWS turns the
    function's `statusCode`/`headers`/`cookies`/`body`/`isBase64Encoded`
    into one; a failed invocation is a 502. Every event and answer is kept."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.seen = []  # (event, ok, payload), once answered
        self.received = []  # paths, as requests arrive
        self._lock = threading.Condition()
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = url_event(self.command, self.path, self.headers.items(), body)
                with bridge._lock:
                    bridge.received.append(event["rawPath"])
                    bridge._lock.notify_all()
                ok, payload = bridge.runtime.invoke(event)
                with bridge._lock:
                    bridge.seen.append((event, ok, payload))
                    bridge._lock.notify_all()
                if not ok or not isinstance(payload, dict) or "statusCode" not in payload:
                    return self._send(502, [("content-type", "application/json")], b'{"Message":"Internal Server Error"}')
                data = payload.get("body") or ""
                data = base64.b64decode(data) if payload.get("isBase64Encoded") else data.encode()
                headers = list((payload.get("headers") or {}).items())
                headers += [("set-cookie", c) for c in payload.get("cookies") or []]
                self._send(payload["statusCode"], headers, data)

            def _send(self, status, headers, data):
                try:
                    self.send_response(status)
                    for name, value in headers:
                        if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up (a replaced long-poll)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events_to(self, path):
        with self._lock:
            return [(e, ok, p) for e, ok, p in self.seen if e["rawPath"] == path]

    def wait_answered(self, path, count, timeout=20):
        """Until `count` requests to `path` were answered."""
        deadline = time.time() + timeout
        with self._lock:
            while len([e for e, _, _ in self.seen if e["rawPath"] == path]) < count:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"fewer than {count} answered requests to {path}: {[e['rawPath'] for e, _, _ in self.seen]}")
                self._lock.wait(left)

    def wait_received(self, path, count, timeout=20):
        """Until `count` requests to `path` have arrived."""
        deadline = time.time() + timeout
        with self._lock:
            while self.received.count(path) < count:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"fewer than {count} requests to {path}: {self.received}")
                self._lock.wait(left)

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            f"{self.url}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- Slack, with the workspace ----------------------------------------------------------


class WorkspaceSlack(FakeSlack):
    """test_slack.py's fake, also answering what the default deciders ask:
    who is a full member of the workspace, and who is in the channel."""

    def _answer(self, method, b):
        if method == "users.info":
            uid = b.get("user", "")
            if uid not in MEMBERS:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {
                "id": uid, "team_id": TEAM, "name": uid.lower(), "deleted": False, "real_name": uid.lower(),
                "profile": {"real_name": uid.lower(), "display_name": uid.lower(), "team": TEAM},
                "is_admin": False, "is_owner": False, "is_primary_owner": False, "is_restricted": False,
                "is_ultra_restricted": False, "is_bot": uid == "U0BOT", "is_app_user": False, "updated": 1_700_000_000,
            }}
        if method == "conversations.members":
            return {"ok": True, "members": MEMBERS, "response_metadata": {"next_cursor": ""}}
        return super()._answer(method, b)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def slack():
    fake = WorkspaceSlack()
    yield fake
    fake.stop()


@pytest.fixture
def function_url(tmp_path, slack):
    """Two execution environments of the API function, Slack on, behind a
    function URL."""
    runtime = Runtime()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HITL_", "SLACK_", "TEAMS_"))}
    env.pop("TABLE_NAME", None)
    env.pop("STATE_MACHINE_ARN", None)
    env.pop("OUTBOX_QUEUE_URLS", None)
    env.update({
        "_HANDLER": "api",
        "AWS_LAMBDA_RUNTIME_API": runtime.api,
        "AWS_LAMBDA_FUNCTION_NAME": "hitl-api",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/hitl-api",
        "AWS_REGION": "us-east-1",
        "HITL_TOKEN": TOKEN,
        "HITL_DATA_DIR": str(tmp_path / "bot-data"),
        "HITL_LAMBDA_MAX_WAIT_SECS": str(CAP_SECS),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_CHANNEL": CHANNEL,
        "SLACK_API_URL": slack.url,
        "RUST_LOG": "warn",
    })
    functions = []
    bridge = FunctionUrl(runtime)
    try:
        # One after the other, as Lambda adds an environment when the first
        # is busy. The image runs the binary with no arguments
        # (/var/runtime/bootstrap).
        for n in (1, 2):
            functions.append(subprocess.Popen([HITL_BOT], env=env, stdout=subprocess.DEVNULL))
            runtime.wait_idle(n)
        yield bridge
    finally:
        for f in functions:
            f.kill()
            f.wait(timeout=10)
        bridge.stop()
        runtime.stop()


def send_signed(url, content_type, body, secret=SIGNING_SECRET, tamper=None):
    """POSTs `body` to `url` as Slack would, signed with `secret`; `tamper`
    changes the body after signing. Returns (status, body text)."""
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    if tamper:
        body = tamper(body)
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    })
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def held_card(gw, tg, function_url, slack, results, target, content):
    """Holds a write through the gateway; the card, once posted, after the
    first long-poll ran to the cap and the gateway polled again."""
    tg.start_soon(held_write, gw, target, content, results)
    card = await anyio.to_thread.run_sync(wait_card, slack)
    await anyio.to_thread.run_sync(lambda: function_url.wait_answered("/v1/approvals/wait", 1, timeout=CAP_SECS + 15))
    [(_, ok, first)] = function_url.events_to("/v1/approvals/wait")[:1]
    assert ok and first["statusCode"] == 200, first
    assert json.loads(first["body"]) == {"approvals": []}, "ended at the cap, nothing decided"
    await anyio.to_thread.run_sync(lambda: function_url.wait_received("/v1/approvals/wait", 2))
    assert not target.exists() and not results, "nothing runs before the click"
    return card


# --- tests -----------------------------------------------------------------------------------------


async def test_a_held_call_is_released_by_a_signed_click_delivered_as_a_function_url_event(function_url, slack, fsroot):
    target = fsroot / "lambda.txt"
    results = []
    params = gateway_params(function_url.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")
    async with session(params) as gw:
        async with anyio.create_task_group() as tg:
            card = await held_card(gw, tg, function_url, slack, results, target, "approved through Lambda")
            assert has_buttons(card["message"]["blocks"])
            ctype, body = interaction_body(click("U0ALICE", "hitl_approve", card["request_id"], card))
            status, answer = await anyio.to_thread.run_sync(
                lambda: send_signed(f"{function_url.url}/slack/interactions", ctype, body))
            assert (status, answer) == (200, ""), "Slack gets an empty acknowledgement"
            r = await wait_result(results, timeout=CAP_SECS + 20)
    assert not r.isError, r
    assert target.read_text() == "approved through Lambda"

    # The click reached the function as AWS delivers a form post: base64.
    [(event, ok, answered)] = function_url.events_to("/slack/interactions")
    assert ok and answered["statusCode"] == 200, answered
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]).decode() == body
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"]["x-slack-signature"].startswith("v0=")

    status, record = function_url.api("GET", f"/v1/approvals/{card['request_id']}")
    assert status == 200
    assert (record["status"], record["approver"]) == ("approved", "U0ALICE"), record
    assert record["executed_at"], record
    assert_card_finished(slack, card, "<@U0ALICE>")


async def test_the_same_click_with_a_bad_signature_changes_nothing(function_url, slack, fsroot):
    target = fsroot / "forged.txt"
    results = []
    params = gateway_params(function_url.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")
    async with session(params) as gw:
        async with anyio.create_task_group() as tg:
            card = await held_card(gw, tg, function_url, slack, results, target, "x")
            ctype, body = interaction_body(click("U0ALICE", "hitl_approve", card["request_id"], card))
            url = f"{function_url.url}/slack/interactions"
            forged = [
                # Signed with another app's secret.
                lambda: send_signed(url, ctype, body, secret="not-the-signing-secret"),
                # Signed for Alice's approve, then changed on the way.
                lambda: send_signed(url, ctype, body, tamper=lambda b: b.replace("U0ALICE", "U0BOT")),
            ]
            for send in forged:
                status, answer = await anyio.to_thread.run_sync(send)
                assert status == 401, (status, answer)
            # Another long-poll runs to the cap after the forged clicks: the
            # call is still held.
            polls = len(function_url.events_to("/v1/approvals/wait"))
            await anyio.to_thread.run_sync(
                lambda: function_url.wait_answered("/v1/approvals/wait", polls + 1, timeout=CAP_SECS + 15))
            status, record = function_url.api("GET", f"/v1/approvals/{card['request_id']}")
            assert record["status"] == "pending" and not record.get("approver"), record
            assert not results, "the call is still held"
            assert not target.exists()
            assert not slack.calls_of("chat.update") and not slack.calls_of("chat.postEphemeral")
            assert has_buttons(slack.message(card["ts"])["blocks"])
            tg.cancel_scope.cancel()
