"""The facts a stored warning was worded from, for providers that send approved templates, not free text.

A warning, escalation or all-clear is worded from its alert (hazard, severity, area: alerts/notifying/texts.py)
and the hotline, so those facts are read back from the alert the notification names rather than stored
with each of a fan-out's 100,000 rows. Other kinds carry what they need in their text (a sign-in code) or
in `Outgoing.params`. (docs/architecture.md, "Alibaba Cloud SMS")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from alerts.dao import alerts_dao
from alerts.notifying import texts
from alerts.notifying.channels.base import Outgoing
from alerts.notifying.targeting import alert_severity
from store.db import session_scope

WORDED_FROM_ALERT = frozenset(texts.KINDS)


def with_alert_facts(messages: Sequence[Outgoing], hotline: str) -> list[Outgoing]:
    """The messages, each warning, escalation and all-clear without params given its alert's facts."""
    wanted = {m.alert_id for m in messages if m.params is None and m.kind in WORDED_FROM_ALERT and m.alert_id}
    if not wanted:
        return list(messages)
    with session_scope() as session:
        infos = alerts_dao.infos_by_alert(session, wanted)
    facts: dict[tuple[int, str], dict[str, str]] = {}

    def facts_of(alert_id: int, language: str) -> dict[str, str]:
        if (alert_id, language) not in facts:
            alert_infos = infos.get(alert_id, ())
            facts[(alert_id, language)] = texts.template_facts(alert_infos, alert_severity(alert_infos), language,
                                                               hotline)
        return facts[(alert_id, language)]

    return [replace(m, params=facts_of(m.alert_id, texts.choose_language(m.language)))
            if m.params is None and m.alert_id in infos and m.kind in WORDED_FROM_ALERT else m for m in messages]
