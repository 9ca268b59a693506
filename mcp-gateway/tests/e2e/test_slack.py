"""End to end with the gateway and Slack: a call the gateway holds is posted
to Slack as a card by the real `hitl-bot`, and released (or refused) by what
people do there: a signed click on Approve, or a reply in the card's thread.

Slack's Web API is a small fake in this process on 127.0.0.1 (it records
every call and answers as Slack does), reached by the bot through
SLACK_API_URL. Requests to the bot's Slack endpoints are in Slack's own
shapes and signed by an independent implementation of Slack's scheme,
Python slack_sdk's SignatureVerifier."""

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest
from slack_sdk.signature import SignatureVerifier

from conftest import FILESYSTEM, Bot, gateway_params, session

pytestmark = pytest.mark.anyio

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
CHANNEL = "#approvals"
CHANNEL_ID = "C0APPROVALS"  # what the fake answers for CHANNEL, as Slack answers ids
TEAM = "T0TEAM"
APP = "A0HITL"


# --- a fake Slack Web API ------------------------------------------------------


class FakeSlack:
    """Slack's Web API on 127.0.0.1: records each call (method, token,
    body) and answers as Slack does: `ok: true` with `channel`, `ts` and the
    posted `message`; it also keeps what the channel shows, so a test can
    click on the card as it is."""

    def __init__(self):
        self.calls = []
        self.messages = {}  # ts -> the message as the channel shows it
        self._seq = 0
        self._changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                fake._handle(self)

            def do_GET(self):
                fake._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _next_ts(self):
        self._seq += 1
        return f"{int(time.time())}.{self._seq * 100:06d}"

    def _handle(self, req):
        url = urllib.parse.urlsplit(req.path)
        method = url.path.rsplit("/", 1)[-1]
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0)).decode()
        ctype = req.headers.get("Content-Type", "")
        if not raw:
            body = dict(urllib.parse.parse_qsl(url.query))
        elif "json" in ctype:
            body = json.loads(raw)
        else:
            body = dict(urllib.parse.parse_qsl(raw))
        with self._changed:
            answer = self._answer(method, body)
            self.calls.append({"method": method, "auth": req.headers.get("Authorization"), "body": body, "answer": answer})
            self._changed.notify_all()
        data = json.dumps(answer).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _answer(self, method, b):
        if method == "chat.postMessage":
            ts = self._next_ts()
            channel = b.get("channel", "")
            channel = "C0" + "".join(c for c in channel[1:].upper() if c.isalnum()) if channel.startswith("#") else channel
            message = {
                "type": "message", "subtype": "bot_message", "user": "U0BOT", "bot_id": "B0BOT",
                "app_id": APP, "ts": ts, "text": b.get("text"), "blocks": b.get("blocks"), "team": TEAM,
            }
            if b.get("thread_ts"):
                message["thread_ts"] = b["thread_ts"]
            self.messages[ts] = message
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            shown = self.messages.get(b.get("ts"))
            if shown is None:
                return {"ok": False, "error": "message_not_found"}
            shown.update(text=b.get("text"), blocks=b.get("blocks"), edited={"user": "U0BOT", "ts": self._next_ts()})
            return {"ok": True, "channel": b.get("channel"), "ts": b.get("ts"), "text": b.get("text"),
                    "message": {"type": "message", "user": "U0BOT", "bot_id": "B0BOT",
                                "text": b.get("text"), "blocks": b.get("blocks")}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "views.open":
            return {"ok": True, "view": dict(b.get("view") or {}, id="V0MODAL", team_id=TEAM)}
        if method == "usergroups.users.list":
            return {"ok": False, "error": "no_such_subteam"}
        if method == "users.info":
            # A full member of the workspace, as users.info shows one.
            uid = b.get("user", "")
            return {"ok": True, "user": {
                "id": uid, "team_id": TEAM, "name": uid.lower(), "deleted": False, "real_name": uid.lower(),
                "profile": {"real_name": uid.lower(), "display_name": uid.lower(), "team": TEAM},
                "is_admin": False, "is_owner": False, "is_primary_owner": False, "is_restricted": False,
                "is_ultra_restricted": False, "is_bot": False, "is_app_user": False, "updated": 1700000000}}
        if method == "conversations.members":
            return {"ok": True, "members": ["U0ALICE", "U0BOB42"], "response_metadata": {"next_cursor": ""}}
        if method == "auth.test":
            return {"ok": True, "url": "https://acme.slack.com/", "team": "Acme", "user": "hitl",
                    "team_id": TEAM, "user_id": "U0BOT", "bot_id": "B0BOT", "is_enterprise_install": False}
        return {"ok": False, "error": "unknown_method"}

    def calls_of(self, method):
        with self._changed:
            return [c for c in self.calls if c["method"] == method]

    def wait_for(self, method, where=lambda call: True, timeout=15):
        """The first call of `method` that satisfies `where`, once it arrives."""
        deadline = time.time() + timeout
        with self._changed:
            while True:
                found = [c for c in self.calls if c["method"] == method and where(c)]
                if found:
                    return found[0]
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"no matching {method} call; calls so far: {[c['method'] for c in self.calls]}")
                self._changed.wait(left)

    def message(self, ts):
        with self._changed:
            return json.loads(json.dumps(self.messages[ts]))


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.stop()


@pytest.fixture
def slack_bot(tmp_path, slack):
    """`hitl-bot serve` with Slack on, pointed at the fake."""
    b = Bot(tmp_path, env={
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_CHANNEL": CHANNEL,
        "SLACK_API_URL": slack.url,
    }).start()
    yield b
    b.stop()


# --- Slack's requests, signed ---------------------------------------------------


def user(uid):
    return {"id": uid, "username": uid.lower(), "name": uid.lower(), "team_id": TEAM}


def click(uid, action_id, request_id, card):
    """A `block_actions` interaction: `uid` clicked a button of `card` (the
    message as the channel shows it), as Slack sends it."""
    return {
        "type": "block_actions",
        "user": user(uid),
        "api_app_id": APP,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": card["ts"], "channel_id": card["channel"], "is_ephemeral": False},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": TEAM, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": card["channel"], "name": "approvals"},
        "message": card["message"],
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1234/abcd",
        "actions": [{
            "action_id": action_id,
            "block_id": "bXy7A",
            "text": {"type": "plain_text", "text": "Approve" if action_id == "hitl_approve" else "Reject", "emoji": True},
            "value": request_id,
            "style": "primary" if action_id == "hitl_approve" else "danger",
            "type": "button",
            "action_ts": f"{int(time.time())}.456789",
        }],
    }


def thread_reply(event_id, uid, card, text):
    """An Events API `event_callback`: `uid` wrote `text` in the card's thread."""
    ts = f"{int(time.time())}.999100"
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": {
            "type": "message",
            "channel": card["channel"],
            "user": uid,
            "text": text,
            "ts": ts,
            "thread_ts": card["thread_ts"],
            "parent_user_id": "U0BOT",
            "channel_type": "channel",
            "event_ts": ts,
            "team": TEAM,
            "client_msg_id": "9c2b2c4e-1a1b-4c9e-8f7e-0a1b2c3d4e5f",
            "blocks": [{"type": "rich_text", "block_id": "Zr5c", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}],
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMFRFQU0ifQ",
    }


def interaction_body(payload):
    return "application/x-www-form-urlencoded", urllib.parse.urlencode({"payload": json.dumps(payload)})


def event_body(payload):
    return "application/json", json.dumps(payload)


def send_signed(bot, path, content_type, body, secret=SIGNING_SECRET, tamper=None):
    """POSTs `body` to the bot as Slack would, signed with `secret`; `tamper`
    changes the body after signing. Returns (status, body text)."""
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    if tamper:
        body = tamper(body)
    req = urllib.request.Request(f"{bot.url}{path}", data=body.encode(), method="POST", headers={
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    })
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# --- helpers ----------------------------------------------------------------------


def approve_value(blocks):
    """The request id the card's Approve button carries."""
    for block in blocks or []:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("action_id") == "hitl_approve":
                    return element.get("value")
    return None


def wait_card(slack):
    """The request card, once the bot posted it: where it is and what it shows."""
    call = slack.wait_for("chat.postMessage", lambda c: approve_value(c["body"].get("blocks")))
    assert call["auth"] == f"Bearer {BOT_TOKEN}"
    assert call["body"]["channel"] == CHANNEL
    ts = call["answer"]["ts"]
    assert call["answer"]["channel"] == CHANNEL_ID
    return {
        "request_id": approve_value(call["body"]["blocks"]),
        "channel": CHANNEL_ID,
        "ts": ts,
        "thread_ts": call["body"].get("thread_ts") or ts,
        "message": slack.message(ts),
    }


async def held_write(gw, path, content, results):
    results.append(await gw.call_tool("write_file", {"path": str(path), "content": content}))


def wait_card_recorded(bot, card, timeout=15):
    """Until the bot has recorded where the card is (a thread reply names
    the card by its thread, as a person replies only to a card they see)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if bot.get(card["request_id"]).get("notification_sent"):
            return
        time.sleep(0.02)
    raise AssertionError(f"the bot never recorded the card of {card['request_id']}")


async def wait_result(results, timeout=15):
    with anyio.fail_after(timeout):
        while not results:
            await anyio.sleep(0.02)
    return results[0]


def has_buttons(blocks):
    return any(b.get("type") == "actions" for b in blocks or [])


def assert_card_finished(slack, card, says):
    """The card was updated in place: no buttons left, and it says `says`."""
    update = slack.wait_for("chat.update", lambda c: c["body"].get("ts") == card["ts"])
    assert update["auth"] == f"Bearer {BOT_TOKEN}"
    assert update["body"]["channel"] == card["channel"]
    shown = slack.message(card["ts"])
    assert not has_buttons(shown["blocks"]), shown
    assert says in json.dumps(shown), shown


# --- tests --------------------------------------------------------------------------


async def test_a_held_call_is_released_by_a_signed_click(slack_bot, slack, fsroot):
    target = fsroot / "clicked.txt"
    results = []
    async with session(gateway_params(slack_bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(held_write, gw, target, "approved in Slack", results)
            card = await anyio.to_thread.run_sync(wait_card, slack)
            [pending] = await anyio.to_thread.run_sync(slack_bot.wait_pending)
            assert card["request_id"] == pending["request_id"]
            assert "write_file" in json.dumps(card["message"]["blocks"])
            assert has_buttons(card["message"]["blocks"])
            assert not target.exists() and not results, "nothing runs before the click"

            ctype, body = interaction_body(click("U0ALICE", "hitl_approve", card["request_id"], card))
            status, answer = await anyio.to_thread.run_sync(lambda: send_signed(slack_bot, "/slack/interactions", ctype, body))
            assert (status, answer) == (200, ""), "Slack gets an empty acknowledgement"
            r = await wait_result(results)
    assert not r.isError, r
    assert target.read_text() == "approved in Slack"
    record = slack_bot.get(card["request_id"])
    assert record["status"] == "approved" and record["approver"] == "U0ALICE"
    assert record["executed_at"]
    assert_card_finished(slack, card, "<@U0ALICE>")
    reply = slack.wait_for("chat.postMessage", lambda c: c["body"].get("thread_ts") == card["thread_ts"])
    assert reply["body"]["text"].startswith(":white_check_mark: Approved by <@U0ALICE>"), reply["body"]


async def test_a_reject_replied_in_the_thread_refuses_the_call_and_the_agent_reads_why(slack_bot, slack, fsroot):
    target = fsroot / "rejected.txt"
    results = []
    async with session(gateway_params(slack_bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(held_write, gw, target, "x", results)
            card = await anyio.to_thread.run_sync(wait_card, slack)
            await anyio.to_thread.run_sync(wait_card_recorded, slack_bot, card)
            ctype, body = event_body(thread_reply("Ev0REJECT1", "U0BOB42", card, "reject wrong folder"))
            status, _ = await anyio.to_thread.run_sync(lambda: send_signed(slack_bot, "/slack/events", ctype, body))
            assert status == 200
            r = await wait_result(results)
    assert r.isError, r
    assert "rejected by U0BOB42: wrong folder" in r.content[0].text, r.content[0].text
    assert r.meta["hitl/approval"]["approver"] == "U0BOB42"
    assert not target.exists()
    record = slack_bot.get(card["request_id"])
    assert (record["status"], record["approver"], record["reason"]) == ("rejected", "U0BOB42", "wrong folder")
    assert not record.get("executed_at")
    assert_card_finished(slack, card, "wrong folder")


async def test_a_held_call_is_released_by_approve_replied_in_the_thread(slack_bot, slack, fsroot):
    target = fsroot / "replied.txt"
    results = []
    async with session(gateway_params(slack_bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(held_write, gw, target, "approved in the thread", results)
            card = await anyio.to_thread.run_sync(wait_card, slack)
            await anyio.to_thread.run_sync(wait_card_recorded, slack_bot, card)
            # Conversation in the thread decides nothing.
            ctype, body = event_body(thread_reply("Ev0CHAT1", "U0ALICE", card, "who asked for this?"))
            status, _ = await anyio.to_thread.run_sync(lambda: send_signed(slack_bot, "/slack/events", ctype, body))
            assert status == 200
            await anyio.sleep(0.3)
            assert slack_bot.get(card["request_id"])["status"] == "pending" and not results
            ctype, body = event_body(thread_reply("Ev0APPROVE1", "U0ALICE", card, "approve"))
            status, _ = await anyio.to_thread.run_sync(lambda: send_signed(slack_bot, "/slack/events", ctype, body))
            assert status == 200
            r = await wait_result(results)
    assert not r.isError, r
    assert target.read_text() == "approved in the thread"
    record = slack_bot.get(card["request_id"])
    assert (record["status"], record["approver"]) == ("approved", "U0ALICE")
    assert_card_finished(slack, card, "<@U0ALICE>")


async def test_a_click_with_a_bad_signature_changes_nothing(slack_bot, slack, fsroot):
    target = fsroot / "forged.txt"
    results = []
    async with session(gateway_params(slack_bot.url, [FILESYSTEM, str(fsroot)], "--timeout", "60")) as gw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(held_write, gw, target, "x", results)
            card = await anyio.to_thread.run_sync(wait_card, slack)
            ctype, body = interaction_body(click("U0MALLORY", "hitl_approve", card["request_id"], card))
            forged = [
                # Signed with another app's secret.
                lambda: send_signed(slack_bot, "/slack/interactions", ctype, body, secret="not-the-signing-secret"),
                # Signed by Slack for Alice, then changed on the way.
                lambda: send_signed(slack_bot, "/slack/interactions", ctype,
                                    interaction_body(click("U0ALICE", "hitl_approve", card["request_id"], card))[1],
                                    tamper=lambda b: b.replace("U0ALICE", "U0MALLORY")),
            ]
            for send in forged:
                status, answer = await anyio.to_thread.run_sync(send)
                assert status == 401, (status, answer)
            await anyio.sleep(0.5)
            record = slack_bot.get(card["request_id"])
            assert record["status"] == "pending" and not record.get("approver"), record
            assert not results, "the call is still held"
            assert not target.exists()
            assert not slack.calls_of("chat.update") and not slack.calls_of("chat.postEphemeral")
            assert has_buttons(slack.message(card["ts"])["blocks"])
            # Ended the ordinary way, so the refusal above was not a broken bot.
            status, _ = await anyio.to_thread.run_sync(lambda: slack_bot.decide(card["request_id"], "approve", approver="alice"))
            assert status == 200
            r = await wait_result(results)
    assert not r.isError, r
    assert target.read_text() == "x"
    assert slack_bot.get(card["request_id"])["approver"] == "alice"
