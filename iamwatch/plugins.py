"""Detectors from other installed packages, through the ``iamwatch.detectors`` entry points.

A package declares, in its pyproject.toml::

    [project.entry-points."iamwatch.detectors"]
    acme = "acme_detections:DETECTORS"

where the object is one ``@detector(META)`` function or a list of them. Their ids carry the
package's namespace ("acme.role-assumed-from-home") and they follow the same declaration rules
as built-in detectors (docs/custom-detectors.md). A plugin that fails to load stops iamwatch
with its name: a detection someone installed must not be silently missing.
"""

from __future__ import annotations

from collections.abc import Iterable

from iamwatch.registry import Detector, RegistryError

ENTRY_POINT_GROUP = "iamwatch.detectors"


def installed_detectors() -> list[Detector]:
    from importlib.metadata import entry_points

    found: list[Detector] = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            loaded = entry.load()
        except Exception as error:
            raise RegistryError(
                f"detector plugin {entry.name!r} ({entry.value}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from None
        if isinstance(loaded, Detector):
            found.append(loaded)
        elif isinstance(loaded, Iterable) and not isinstance(loaded, str | bytes):
            items = list(loaded)
            if not all(isinstance(item, Detector) for item in items):
                raise RegistryError(
                    f"detector plugin {entry.name!r} ({entry.value}) is not a list of "
                    "@detector(META) functions"
                )
            found.extend(items)
        else:
            raise RegistryError(
                f"detector plugin {entry.name!r} ({entry.value}) is not a @detector(META) "
                "function or a list of them"
            )
    return found
