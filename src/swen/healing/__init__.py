"""Self-healing: quarantine, loop guards, the emergency flow and post-incident reports.

- :mod:`swen.moves.automation`: the global switch (``swen automation pause|resume|status``).
- :mod:`swen.healing.quarantine`: (service or ``*``, placement) blocked until a simulated time.
- :mod:`swen.healing.guards`: pure loop guards (attempts per hour, ping-pong, consecutive failures).
- :mod:`swen.healing.detection`: the engine's own anomaly detector fed with every telemetry tick.
- :mod:`swen.healing.remediation`: incidents -> engine emergency inputs -> verification -> resolve or
  retry or escalate (called by :class:`swen.loop.EngineLoop`).
- :mod:`swen.healing.report`: the post-incident report (plain data for the API, CLI and dashboard).
"""
