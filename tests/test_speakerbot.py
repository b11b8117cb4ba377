"""The Speaker.bot-compatible API on a real engine (real hub, real Piper voice): a Streamer.bot-like
client sends Speaker.bot's documented WebSocket requests and UDP commands; what it asks for shows
up on ``/v1/subscribe`` (play, cancel) and in the hub's queue."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from engine.errors import ConfigError
from engine.http.events import HUB_KEY
from engine.http.speakerbot import SpeakerbotApi, SpeakerbotOptions, _host_name
from engine.hub import Hub

from .test_hub import next_event

ALIASES = {"EventVoice": "en_US-joe-medium", "Broken": "no-such-voice"}


class StreamerBot:
    """Sends requests the way Streamer.bot does: a fresh id each, then waits for that id's answer."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def request(self, name: str, **fields: Any) -> dict[str, Any]:
        ident = uuid.uuid4().hex
        await self.ws.send_str(json.dumps({"request": name, "id": ident, **fields}))
        reply = json.loads(await asyncio.wait_for(self.ws.receive_str(), 10))
        assert reply["id"] == ident
        return reply  # type: ignore[no-any-return]

    async def ok(self, name: str, **fields: Any) -> dict[str, Any]:
        reply = await self.request(name, **fields)
        assert reply["status"] == "ok", reply
        return reply["result"]  # type: ignore[no-any-return]


@pytest.fixture
async def setup(start_engine: Any) -> AsyncIterator[tuple[Any, Hub, SpeakerbotApi]]:
    running = await start_engine(speech={"outstanding_parts": 1})
    hub = running.app[HUB_KEY]
    api = SpeakerbotApi(SpeakerbotOptions(enabled=True, port=0, udp_port=0, voice_aliases=ALIASES))
    await api.start(hub)
    yield running, hub, api
    await api.close()


async def until(check: Any, what: str, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not check():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_streamer_bot_actions(setup: tuple[Any, Hub, SpeakerbotApi]) -> None:
    running, hub, api = setup
    # the engine's own API over its Unix socket (no token needed there); Speaker.bot's over TCP
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=running.unix)) as local, \
            local.get("http://localhost/v1/subscribe") as sub, \
            aiohttp.ClientSession() as http, \
            http.ws_connect(f"ws://127.0.0.1:{api.ws_port}/") as ws:
        bot = StreamerBot(ws)
        # what Streamer.bot asks when it connects
        info = await bot.ok("GetInfo")
        assert info["name"] == "Speaker.bot" and info["instanceId"]
        assert {"Speak", "Stop", "Pause", "Resume", "Clear", "On", "Off"} <= set(
            (await bot.ok("Commands"))["commands"])
        assert (await bot.ok("Subscribe", events={"TextToSpeech": ["TextQueued"]}))["events"]

        spoken = await bot.ok("Speak", voice="EventVoice", message="Thanks for the raid, everyone!",
                              badWordFilter=True)
        assert spoken["voice"] == "en_US-joe-medium"
        play = await next_event(sub)
        assert (play["type"], play["utterance"], play["source"]) == ("play", spoken["speechId"], "api")
        assert "raid" in play["text"]

        assert (await bot.ok("Stop"))["stopped"] == spoken["speechId"]
        cancel = await next_event(sub)
        assert (cancel["type"], cancel["utterance"]) == ("cancel", spoken["speechId"])

        await bot.ok("Pause")
        assert hub.queue.paused
        await bot.ok("Speak", voice="SomeAliasWeDoNotKnow", message="held while paused")
        await bot.ok("Speak", voice="EventVoice", message="also held")
        assert len(hub.queue) == 2 and (await bot.ok("GetState"))["queued"] == 2
        assert (await bot.ok("Clear"))["cleared"] == 2
        await bot.ok("Resume")
        assert not hub.queue.paused

        await bot.ok("Off")
        refused = await bot.request("Speak", voice="EventVoice", message="not now")
        assert refused["status"] == "error" and "off" in refused["error"]
        await bot.ok("On")
        again = await bot.ok("Speak", voice="EventVoice", message="Back on the air.")
        assert (await next_event(sub))["utterance"] == again["speechId"]

        bad_voice = await bot.request("Speak", voice="Broken", message="hello there")
        assert bad_voice["status"] == "error" and "voice" in bad_voice["error"]
        empty = await bot.request("Speak", voice="EventVoice", message="  ")
        assert empty["status"] == "error"
        unknown = await bot.request("Dance")
        assert unknown["status"] == "error" and "Dance" in unknown["error"]
        await bot.ok("Mode", mode="all")  # known to Speaker.bot, meaningless here: acknowledged
        await ws.send_str("{not json")
        assert json.loads(await ws.receive_str())["status"] == "error"
        await ws.send_str(json.dumps({"request": "Speak", "message": "no id"}))
        assert json.loads(await ws.receive_str())["status"] == "error"
    assert api.status()["enabled"] is True


async def test_udp_commands(setup: tuple[Any, Hub, SpeakerbotApi]) -> None:
    _, hub, api = setup

    def send(command: dict[str, Any]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(json.dumps(command).encode(), ("127.0.0.1", api.udp_port))

    send({"command": "pause"})
    await until(lambda: hub.queue.paused, "UDP pause")
    send({"command": "speak", "id": "1", "voice": "EventVoice", "message": "Hello over UDP"})
    await until(lambda: len(hub.queue) == 1, "UDP speak queued")
    assert [u.text for u in hub.queue.items()] == ["Hello over UDP"]
    send({"command": "clear"})
    await until(lambda: len(hub.queue) == 0, "UDP clear")
    send({"command": "off"})
    await until(lambda: not api.enabled, "UDP off")
    send({"command": "speak", "id": "2", "voice": "EventVoice", "message": "ignored while off"})
    send({"command": "on"})
    await until(lambda: api.enabled, "UDP on")
    await asyncio.sleep(0.1)
    assert len(hub.queue) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"\xff not json", ("127.0.0.1", api.udp_port))
    send({"command": "resume"})
    await until(lambda: not hub.queue.paused, "UDP resume")


async def test_only_local_programs(setup: tuple[Any, Hub, SpeakerbotApi]) -> None:
    _, _, api = setup
    url = f"ws://127.0.0.1:{api.ws_port}/"
    async with aiohttp.ClientSession() as http:
        for headers in ({"Origin": "https://evil.example"}, {"Host": "evil.example"},
                        {"Sec-Fetch-Site": "cross-site"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                await http.ws_connect(url, headers=headers)
            assert exc.value.status == 403
        async with http.ws_connect(url, headers={"Host": f"localhost:{api.ws_port}"}) as ws:
            await ws.send_str(json.dumps({"request": "GetInfo", "id": "x"}))
            assert json.loads(await ws.receive_str())["status"] == "ok"
    assert [_host_name(h) for h in ("[::1]:7580", "[::1]", "localhost", "127.0.0.1:1")] == \
        ["[::1]", "[::1]", "localhost", "127.0.0.1"]


async def test_a_taken_port_is_a_clear_config_error(setup: tuple[Any, Hub, SpeakerbotApi]) -> None:
    _, hub, _ = setup
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api = SpeakerbotApi(SpeakerbotOptions(enabled=True, port=taken.getsockname()[1], udp=False))
        with pytest.raises(ConfigError) as exc:
            await api.start(hub)
    assert "speakerbot.port" in exc.value.message
    with pytest.raises(ConfigError):
        await SpeakerbotApi(SpeakerbotOptions(path="no-slash")).start(hub)


async def test_config_starts_it_with_the_engine(start_engine: Any) -> None:
    from engine.http.speakerbot import SPEAKERBOT_KEY

    running = await start_engine(speakerbot={"enabled": True, "port": 0, "udp_port": 0})
    api = running.app[SPEAKERBOT_KEY]
    async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{api.ws_port}/") as ws:
        await ws.send_json({"request": "GetInfo", "id": "info-1"})
        reply = await asyncio.wait_for(ws.receive_json(), 10)
    assert reply["id"] == "info-1" and reply["status"] == "ok"
