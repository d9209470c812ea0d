"""Live scoring: landmark frames streamed over a WebSocket, scored each second, assessed at the end.

``protocol`` (the wire format), ``timeline`` (capture times → 30 fps), ``session`` (one session's frames
and windows), ``registry`` (sessions, tickets, the end through ``AssessmentFlow``), ``connection`` (one
WebSocket). The routes, settings and edge client are the ``live_stream`` plugin's.
"""
