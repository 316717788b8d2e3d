"""Build hook: ship the content folders inside the wheel, except for editable installs."""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ContentHook(BuildHookInterface):  # type: ignore[type-arg]
    """Copy ``flows/`` and ``knowledge/`` to ``bot/_content/`` in regular wheels."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        # An editable install must not get a real bot/ folder in site-packages: it would
        # shadow the checkout's package.
        if version == "editable":
            return
        build_data["force_include"]["flows"] = "bot/_content/flows"
        build_data["force_include"]["knowledge"] = "bot/_content/knowledge"
