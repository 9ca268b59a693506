#!/usr/bin/env python3
"""Builds the Teams app package (a zip to sideload or upload) from this
folder: manifest.json with the app id and the bot's domain filled in, and
the two icons.

    python3 deploy/teams/package.py --app-id GUID --domain bot.example.com \
        [--output hitl-teams.zip] [--version 1.0.0]

--app-id is the bot's Microsoft App ID (TEAMS_APP_ID); --domain is the host
name of the bot's messaging endpoint, without https:// or a path.
"""

import argparse
import json
import pathlib
import re
import sys
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def fail(message):
    print(f"package.py: {message}", file=sys.stderr)
    sys.exit(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-id", required=True, help="the bot's Microsoft App ID (TEAMS_APP_ID)")
    parser.add_argument("--domain", required=True, help="host name of the messaging endpoint")
    parser.add_argument("--output", default="hitl-teams.zip", help="where to write the zip")
    parser.add_argument("--version", default=None, help="app version (x.y.z); bump it on every re-upload")
    args = parser.parse_args()

    if not GUID.match(args.app_id):
        fail(f"--app-id {args.app_id!r} is not a GUID like 6e0fb6d4-0f5e-4c9a-9d4f-1a2b3c4d5e6f")
    domain = args.domain.strip().lower()
    if "://" in domain or "/" in domain or not DOMAIN.match(domain):
        fail(f"--domain {args.domain!r} must be a host name like bot.example.com (no https://, no path)")
    if args.version is not None and not VERSION.match(args.version):
        fail(f"--version {args.version!r} must look like 1.2.3")

    text = (HERE / "manifest.json").read_text(encoding="utf-8")
    text = text.replace("${TEAMS_APP_ID}", args.app_id.lower()).replace("${BOT_DOMAIN}", domain)
    manifest = json.loads(text)
    if args.version:
        manifest["version"] = args.version

    output = pathlib.Path(args.output)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for icon in ("color.png", "outline.png"):
            z.write(HERE / icon, icon)
    print(output)


if __name__ == "__main__":
    main()
