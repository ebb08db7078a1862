"""The composition root: adapters and the engine are built here, once, at the edge."""

from __future__ import annotations

from iamwatch.engine import Engine
from iamwatch.registry import DetectionContext
from iamwatch.settings import Settings
from iamwatch.state import SQLiteStateStore, StateStore


def build_engine(settings: Settings, state: StateStore | None = None) -> Engine:
    from detectors import REGISTRY

    store = state if state is not None else SQLiteStateStore(settings.state_path)
    context = DetectionContext(state=store, settings=settings.detection)
    return Engine(REGISTRY, context, runbook_base_url=settings.runbook_base_url)
