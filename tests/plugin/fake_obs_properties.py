"""The properties half of the fake ``obspython`` (``fake_obspython`` re-exports it): property
lists as plain objects a test can walk, and ``click`` to press a button as OBS's UI thread would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

class FakeProperty:
    def __init__(self, kind: str, name: str, description: str, **extra: Any) -> None:
        self.kind, self.name, self.description, self.extra = kind, name, description, extra
        self.items: list[tuple[str, Any]] = []


class FakeProperties:
    def __init__(self) -> None:
        self.props: list[FakeProperty] = []

    def add(self, prop: FakeProperty) -> FakeProperty:
        self.props.append(prop)
        return prop

    def walk(self) -> list[FakeProperty]:
        out = []
        for p in self.props:
            out.append(p)
            if p.kind == "group":
                out += p.extra["content"].walk()
        return out


def obs_properties_create() -> FakeProperties:
    return FakeProperties()


def obs_properties_add_text(props: FakeProperties, name: str, desc: str, kind: int) -> FakeProperty:
    return props.add(FakeProperty("text", name, desc, text_type=kind))


def obs_properties_add_bool(props: FakeProperties, name: str, desc: str) -> FakeProperty:
    return props.add(FakeProperty("bool", name, desc))


def obs_properties_add_int(
    props: FakeProperties, name: str, desc: str, lo: int, hi: int, step: int
) -> FakeProperty:
    return props.add(FakeProperty("int", name, desc, min=lo, max=hi, step=step))


def obs_properties_add_button(
    props: FakeProperties, name: str, text: str, cb: Callable[..., bool]
) -> FakeProperty:
    return props.add(FakeProperty("button", name, text, callback=cb))


def obs_properties_add_list(
    props: FakeProperties, name: str, desc: str, combo: int, fmt: int
) -> FakeProperty:
    return props.add(FakeProperty("list", name, desc, combo_type=combo, format=fmt))


def obs_property_list_add_string(prop: FakeProperty, name: str, value: str) -> None:
    prop.items.append((name, value))


def obs_properties_add_group(
    props: FakeProperties, name: str, desc: str, kind: int, content: FakeProperties
) -> FakeProperty:
    return props.add(FakeProperty("group", name, desc, content=content))


def obs_properties_get(props: FakeProperties, name: str) -> FakeProperty | None:
    return next((p for p in props.walk() if p.name == name), None)


def obs_property_set_description(prop: FakeProperty, text: str) -> None:
    prop.description = text


def obs_property_set_long_description(prop: FakeProperty, text: str) -> None:
    prop.extra["long_description"] = text


def click(props: FakeProperties, name: str) -> bool:
    """The streamer clicks the button ``name``."""
    prop = obs_properties_get(props, name)
    assert prop is not None and prop.kind == "button", name
    import fake_obspython  # the callback runs on OBS's UI thread

    return bool(fake_obspython.on_thread(fake_obspython.UI, prop.extra["callback"], props, prop))
