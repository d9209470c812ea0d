"""Each second of a live session, scored or not, goes to the plugins' live observers
(``Plugins.live_window_scored``, e.g. pain_alerts' sustained rule); what they return (an alert that just
opened, AI-derived) rides on that second's message to the live page as ``alert``."""

from __future__ import annotations

from datetime import datetime

import msgspec

from gateway import AssessmentFlow, LiveWindow
from plugins.live_stream.protocol import WindowMessage
from plugins.live_stream.session import LiveSession


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def with_notices(message: WindowMessage, session: LiveSession, flow: AssessmentFlow) -> WindowMessage:
    if not flow.plugins.live_observers:
        return message
    window = LiveWindow(
        session_id=session.id,
        tenant=session.tenant,
        patient=session.patient,
        start=_instant(message.start),
        end=_instant(message.end),
        level=message.level if message.scorable else None,
        probabilities=message.probabilities if message.scorable else None,
        model=flow.plugins.model().info,
        reason=message.reason,
    )
    notices = await flow.plugins.live_window_scored(window, flow)
    return msgspec.structs.replace(message, alert=" ".join(notices)) if notices else message
