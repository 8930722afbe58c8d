"""The sessions page names each session's device from its browser's User-Agent."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from user_agents import parse

register = template.Library()


@register.filter
def device(user_agent: str) -> str:
    """“Chrome 131 on Linux (computer)”, or “Unknown device” when the browser sent nothing."""
    if not user_agent:
        return _("Unknown device")
    agent = parse(user_agent)
    if agent.is_mobile:
        kind = _("phone")
    elif agent.is_tablet:
        kind = _("tablet")
    elif agent.is_bot:
        kind = _("program")
    else:
        kind = _("computer")
    # The browser's major version is enough to recognise it ("Chrome 131", not "131.0.6778").
    major = agent.browser.version[0] if agent.browser.version else ""
    browser = f"{agent.browser.family} {major}".strip()
    system = f"{agent.os.family} {agent.os.version_string}".strip()
    return _("%(browser)s on %(system)s (%(kind)s)") % {
        "browser": browser,
        "system": system,
        "kind": kind,
    }
