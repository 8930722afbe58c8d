"""The sessions page names each session's device from its browser's User-Agent."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from user_agents import parse

register = template.Library()


@register.filter
def device(user_agent: str) -> str:
    """“Firefox 133 on Ubuntu (computer)”, or “Unknown device” when the browser sent nothing."""
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
    browser = f"{agent.browser.family} {agent.browser.version_string}".strip()
    system = f"{agent.os.family} {agent.os.version_string}".strip()
    return _("%(browser)s on %(system)s (%(kind)s)") % {
        "browser": browser,
        "system": system,
        "kind": kind,
    }
