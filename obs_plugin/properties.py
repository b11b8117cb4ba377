"""The script's properties (Tools -> Scripts), made from ``settings.DECLARED``: a read-only status
line, three buttons, and one group per settings group. Voice and backend fields are editable
lists filled from the engine once it has answered; each field's tooltip is its help text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import obspython as obs

import obs_media
from controller import Controller
from settings import GROUPS, SETTINGS, Setting


def build(
    ctl: Controller | None,
    *,
    on_test: Callable[..., bool],
    on_refresh: Callable[..., bool],
    on_open_page: Callable[..., bool],
) -> Any:
    """The script's properties; the callbacks are the (module-level) button callbacks."""
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(
        props, "status", ctl.status_text() if ctl else "Status: not loaded", obs.OBS_TEXT_INFO
    )
    obs.obs_properties_add_button(props, "refresh_status", "Refresh status", on_refresh)
    obs.obs_properties_add_button(props, "speak_test", "Speak a test line", on_test)
    obs.obs_properties_add_button(props, "open_engine_page", "Open the engine's page", on_open_page)
    for group, title in GROUPS:
        content = obs.obs_properties_create()
        for setting in SETTINGS:
            if setting.group == group:
                _add(content, setting, ctl)
        obs.obs_properties_add_group(props, f"{group}_group", title, obs.OBS_GROUP_NORMAL, content)
    return props


def _add(props: Any, s: Setting, ctl: Controller | None) -> None:
    if s.kind == "bool":
        prop = obs.obs_properties_add_bool(props, s.key, s.label)
    elif s.kind == "int":
        prop = obs.obs_properties_add_int(props, s.key, s.label, 0, 1_000_000, 1)
    elif s.widget == "voice":
        prop = _choices(props, s, [("(default)", "")] + (ctl.voice_choices() if ctl else []))
    elif s.widget == "backend":
        names = ctl.backend_choices() if ctl else []
        prop = _choices(props, s, [("(default)", "")] + [(n, n) for n in names])
    elif s.widget == "media":
        names = obs_media.media_source_names()
        current = ctl.settings.media_source if ctl else str(s.default)
        prop = _choices(props, s, [(n, n) for n in ([current] if current not in names else []) + names])
    else:
        kind = obs.OBS_TEXT_MULTILINE if s.widget == "multiline" else obs.OBS_TEXT_DEFAULT
        prop = obs.obs_properties_add_text(props, s.key, s.label, kind)
    obs.obs_property_set_long_description(prop, s.help)


def _choices(props: Any, s: Setting, choices: list[tuple[str, str]]) -> Any:
    """An editable list: pick one, or type any name."""
    prop = obs.obs_properties_add_list(
        props, s.key, s.label, obs.OBS_COMBO_TYPE_EDITABLE, obs.OBS_COMBO_FORMAT_STRING
    )
    for name, value in choices:
        obs.obs_property_list_add_string(prop, name, value)
    return prop
