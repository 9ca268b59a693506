"""Several upstreams behind one gateway, from the config file's
[[servers]]: their tools, prompts and resources merged, names two servers
share prefixed as `server__name`, and policy rules matching the server."""

import json

import pytest

from conftest import EVERYTHING, FILESYSTEM, gateway_params, session

pytestmark = pytest.mark.anyio


def config(tmp_path, servers, extra=""):
    lines = []
    for name, command in servers:
        lines.append(f'[[servers]]\nname = "{name}"\ncommand = {json.dumps(command)}\n')
    path = tmp_path / "gateway.toml"
    path.write_text(extra + "\n" + "\n".join(lines))
    return str(path)


async def test_two_servers_with_the_same_tools_are_both_reachable_under_prefixed_names(bot, tmp_path):
    cfg = config(tmp_path, [("alpha", [EVERYTHING]), ("beta", [EVERYTHING])])
    async with session(gateway_params(bot.url, [], "--config", cfg)) as gw:
        tools = {t.name for t in (await gw.list_tools()).tools}
        alpha = await gw.call_tool("alpha__get-sum", {"a": 1, "b": 2})
        beta = await gw.call_tool("beta__echo", {"message": "from beta"})
        unknown = await gw.call_tool("get-sum", {"a": 1, "b": 2})
        prompts = {p.name for p in (await gw.list_prompts()).prompts}
        prompt = await gw.get_prompt("beta__simple-prompt")
        resources = (await gw.list_resources()).resources
        read = await gw.read_resource(resources[0].uri)
    assert {"alpha__echo", "beta__echo", "alpha__get-sum", "approval_status"} <= tools
    assert "echo" not in tools, "a shared name is only offered prefixed"
    assert alpha.content[0].text == "The sum of 1 and 2 is 3."
    assert beta.content[0].text == "Echo: from beta"
    assert unknown.isError and "no tool named get-sum" in unknown.content[0].text
    assert {"alpha__simple-prompt", "beta__simple-prompt"} <= prompts
    assert prompt.messages
    assert read.contents


async def test_different_servers_keep_their_names_and_rules_match_the_server(bot, tmp_path, fsroot):
    rule = '[[rule]]\nname = "fs-read-only"\nserver = "files"\ntool = "write_file"\naction = "deny"\nreasons = ["files is read-only"]\n'
    cfg = config(tmp_path, [("files", [FILESYSTEM, str(fsroot)])], extra=rule)
    # A second upstream on the command line, beside the config file's.
    async with session(gateway_params(bot.url, [EVERYTHING], "--config", cfg, "--name", "demo")) as gw:
        tools = {t.name for t in (await gw.list_tools()).tools}
        read = await gw.call_tool("read_text_file", {"path": str(fsroot / "hello.txt")})
        echo = await gw.call_tool("echo", {"message": "hi"})
        denied = await gw.call_tool("write_file", {"path": str(fsroot / "x.txt"), "content": "x"})
    assert {"read_text_file", "echo", "list_pending_approvals"} <= tools
    assert "write_file" not in tools, "denied outright for server files: hidden"
    assert read.content[0].text == "hello\n"
    assert echo.content[0].text == "Echo: hi"
    assert denied.isError and "files is read-only" in denied.content[0].text
    assert not (fsroot / "x.txt").exists()


async def test_a_held_call_on_the_second_server_names_that_server(bot, tmp_path, fsroot):
    cfg = config(tmp_path, [("files", [FILESYSTEM, str(fsroot)]), ("demo", [EVERYTHING])])
    async with session(gateway_params(bot.url, [], "--config", cfg, "--hold-budget", "1")) as gw:
        held = await gw.call_tool("write_file", {"path": str(fsroot / "y.txt"), "content": "y"})
    [record] = bot.all()
    assert record["server"] == "files" and record["tool"] == "write_file"
    assert held.meta["hitl/approval"]["request_id"] == record["request_id"]
