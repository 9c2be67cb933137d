"""The engine's own anomaly detector, fed with every telemetry tick the loop reads.

:class:`AnomalyWatch` wraps :class:`swen.engine.anomaly.AnomalyDetector`: the loop hands it the new
ticks' samples, the detector updates its statistics, and its verdicts go through
:func:`swen.observability.alerts.intake_anomalies` (incidents with ``source="engine"``; only the
current placement of a service counts). The detector state is kept in the store state
``AnomalyDetectorSnapshot`` (key ``healing.detector``) whenever an anomaly starts or clears and
otherwise every ``persist_every`` calls, so a restarted engine does not need a new warm-up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from swen.domain.errors import ObservabilityError, StateError
from swen.domain.sample_columns import SampleColumns
from swen.engine.anomaly import AnomalyDetector
from swen.observability.alerts import IntakeResult, intake_anomalies
from swen.store.repository import Store
from swen.store.state import AnomalyDetectorSnapshot, parse_state

_log = logging.getLogger(__name__)

PERSIST_EVERY = 12
FORGET_AFTER_S = 6 * 3600.0


class AnomalyWatch:
    def __init__(self, store: Store, *, persist_every: int = PERSIST_EVERY) -> None:
        self.store = store
        self.persist_every = persist_every
        self.detector = self._restore()
        self._calls = 0

    def _restore(self) -> AnomalyDetector:
        try:
            saved = self.store.load_state(AnomalyDetectorSnapshot)
            return AnomalyDetector() if saved is None else AnomalyDetector.from_dict(saved.model_dump())
        except (StateError, ObservabilityError) as exc:
            _log.warning("starting a fresh anomaly detector: %s", exc)
            return AnomalyDetector()

    def observe(self, samples: SampleColumns, now: datetime) -> IntakeResult:
        """Feed ``samples`` (any order; ``SampleColumns.from_samples`` turns model objects into columns)
        and record what fires or clears as incidents."""
        anomalies = self.detector.observe_columns(samples)
        result = intake_anomalies(self.store, anomalies, now=now)
        self._calls += 1
        changed = any(a.new or not a.firing for a in anomalies)
        if changed or self._calls % self.persist_every == 0:
            self.save(now)
        return result

    def save(self, now: datetime) -> None:
        self.detector.forget(before=now - timedelta(seconds=FORGET_AFTER_S))
        self.store.save_state(parse_state(AnomalyDetectorSnapshot, self.detector.to_dict()))
