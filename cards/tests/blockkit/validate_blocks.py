"""Check Slack messages against Block Kit's rules, with Python slack_sdk's block models.

Usage: python validate_blocks.py FILE.json

FILE holds a list of {"name": ..., "kind": "message" | "template", "message": {...}}.
For every block: slack_sdk must recognise its type, validate_json() must pass
(lengths and counts), and to_dict() must give back every key and value of the
input (a dropped key is a typo or an attribute Slack does not have). On top,
the documented rules slack_sdk does not check: at most 50 blocks, button style
primary or danger, unique action_id and block_id in a message, no empty text,
section fields and context texts at most 2000 characters, and a non-empty
notification "text" of at most 40000 characters for a message.

Prints "OK: N messages" and exits 0, or prints one line per problem and exits 1.
Needs slack_sdk (pinned to 3.48.0 by the tests' install step).
"""

import json
import sys

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
FIELD_TEXT = 2000
CONTEXT_TEXT = 2000
MESSAGE_TEXT = 40000
BUTTON_STYLES = {"primary", "danger"}


def dropped(raw, rt, path):
    """Keys or values of `raw` that the model's to_dict() did not give back."""
    problems = []
    if isinstance(raw, dict):
        if not isinstance(rt, dict):
            return [f"{path}: became {type(rt).__name__}"]
        for key, value in raw.items():
            if key not in rt:
                problems.append(f"{path}/{key}: dropped by the model (unknown key?)")
            else:
                problems.extend(dropped(value, rt[key], f"{path}/{key}"))
    elif isinstance(raw, list):
        if not isinstance(rt, list) or len(rt) != len(raw):
            return [f"{path}: list changed by the model"]
        for i, (a, b) in enumerate(zip(raw, rt)):
            problems.extend(dropped(a, b, f"{path}/{i}"))
    elif raw != rt:
        problems.append(f"{path}: {raw!r} came back as {rt!r}")
    return problems


def walk(value, path=""):
    """Every (path, dict) in a JSON value."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from walk(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{path}/{i}")


def check_message(message, kind):
    errors = []
    if not isinstance(message, dict):
        return ["message is not a JSON object"]
    if kind == "message":
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            errors.append("/text: missing or empty notification text")
        elif len(text) > MESSAGE_TEXT:
            errors.append(f"/text: {len(text)} characters > {MESSAGE_TEXT}")
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return errors + ["/blocks: missing or empty"]
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"/blocks: {len(blocks)} blocks > {MAX_BLOCKS}")

    for i, raw in enumerate(blocks):
        at = f"/blocks/{i}"
        try:
            block = Block.parse(raw)
        except (SlackObjectFormationError, TypeError, KeyError, ValueError) as e:
            errors.append(f"{at}: cannot parse: {type(e).__name__}: {e}")
            continue
        if block is None or type(block) is Block:
            errors.append(f"{at}: type {raw.get('type')!r} not recognised by slack_sdk")
            continue
        try:
            block.validate_json()
            # to_dict() validates the nested elements too (button style, confirm).
            round_trip = block.to_dict()
        except (SlackObjectFormationError, TypeError, KeyError, ValueError) as e:
            errors.append(f"{at} ({raw['type']}): {type(e).__name__}: {e}")
            continue
        errors.extend(dropped(raw, round_trip, at))
        if raw.get("type") == "section":
            for j, field in enumerate(raw.get("fields") or []):
                if len(field.get("text", "")) > FIELD_TEXT:
                    errors.append(f"{at}/fields/{j}: {len(field['text'])} characters > {FIELD_TEXT}")
        if raw.get("type") == "context":
            for j, element in enumerate(raw.get("elements") or []):
                if element.get("type") in ("mrkdwn", "plain_text") and len(element.get("text", "")) > CONTEXT_TEXT:
                    errors.append(f"{at}/elements/{j}: {len(element['text'])} characters > {CONTEXT_TEXT}")

    action_ids, block_ids = {}, {}
    for path, obj in walk(blocks, "/blocks"):
        if obj.get("type") == "button" and "style" in obj and obj["style"] not in BUTTON_STYLES:
            errors.append(f"{path}/style: {obj['style']!r} is not one of {sorted(BUTTON_STYLES)}")
        if obj.get("type") in ("plain_text", "mrkdwn") and not str(obj.get("text", "")).strip():
            errors.append(f"{path}/text: empty text")
        if "action_id" in obj:
            if obj["action_id"] in action_ids:
                errors.append(f"{path}/action_id: {obj['action_id']!r} already used at {action_ids[obj['action_id']]}")
            action_ids.setdefault(obj["action_id"], path)
    for i, raw in enumerate(blocks):
        if isinstance(raw, dict) and "block_id" in raw:
            if raw["block_id"] in block_ids:
                errors.append(f"/blocks/{i}/block_id: {raw['block_id']!r} already used at {block_ids[raw['block_id']]}")
            block_ids.setdefault(raw["block_id"], f"/blocks/{i}")
    return errors


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        entries = json.load(f)
    problems = []
    for entry in entries:
        for error in check_message(entry["message"], entry.get("kind", "message")):
            problems.append(f"{entry['name']}: {error}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"OK: {len(entries)} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
