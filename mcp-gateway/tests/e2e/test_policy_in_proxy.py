"""The policy file at work inside the proxy: denied tools are hidden and
refused, shadow mode holds nothing, and --auto-approve-low-risk lets low-risk
calls through where the policy would hold them."""

import pytest

from conftest import EVERYTHING, gateway_params, session

pytestmark = pytest.mark.anyio


def policy(tmp_path, text):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


async def test_a_tool_denied_outright_is_hidden_and_refused(bot, tmp_path):
    config = policy(tmp_path, '[[rule]]\nname = "no-env"\ntool = "get-env"\naction = "deny"\nreasons = ["leaks the environment"]\n')
    async with session(gateway_params(bot.url, [EVERYTHING], "--config", config)) as gw:
        names = {t.name for t in (await gw.list_tools()).tools}
        refused = await gw.call_tool("get-env", {})
    assert "get-env" not in names and "echo" in names
    assert refused.isError and "does not allow get-env" in refused.content[0].text
    assert "leaks the environment" in refused.content[0].text
    assert bot.all() == [], "a denial asks nobody"


async def test_shadow_mode_evaluates_but_holds_and_hides_nothing(bot, tmp_path):
    config = policy(tmp_path, 'shadow = true\n[[rule]]\nname = "no-env"\ntool = "get-env"\naction = "deny"\n'
                    '[[rule]]\nname = "hold-echo"\ntool = "echo"\nrisk = "high"\naction = "require_approval"\n')
    async with session(gateway_params(bot.url, [EVERYTHING], "--config", config)) as gw:
        names = {t.name for t in (await gw.list_tools()).tools}
        echoed = await gw.call_tool("echo", {"message": "shadow"})
        env = await gw.call_tool("get-env", {})
    assert "get-env" in names
    assert not echoed.isError and echoed.content[0].text == "Echo: shadow"
    assert not env.isError
    assert bot.all() == []


async def test_auto_approve_low_risk_runs_low_calls_the_policy_would_hold(bot, tmp_path):
    config = policy(tmp_path, '[levels.low]\naction = "require_approval"\n')
    args = ["--config", config, "--hold-budget", "1"]
    async with session(gateway_params(bot.url, [EVERYTHING], *args)) as gw:
        held = await gw.call_tool("get-sum", {"a": 1, "b": 1})
    assert held.structuredContent["status"] == "pending", held
    async with session(gateway_params(bot.url, [EVERYTHING], *args, "--auto-approve-low-risk")) as gw:
        ran = await gw.call_tool("get-sum", {"a": 1, "b": 1})
    assert ran.content[0].text == "The sum of 1 and 1 is 2."
    assert len(bot.all()) == 1, "only the first gateway asked"
