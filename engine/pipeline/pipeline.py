"""The pipeline: one event in, an ``Utterance`` to queue or a ``Drop`` with a human reason out.

Chat goes through the filters (``filters.ChatFilter``), the template and the voice pool/map;
stream events through ``EventOptions`` (on/off, minimum amount, template); announcements pass as
they are. The text is split into parts here, once. Each drop is counted in ``drops`` by kind and
logged once (INFO; a chat line without the command prefix at DEBUG, as it is ordinary chat), so
callers must not log it again. Text normalization and language detection run later, in synthesis.
"""

from __future__ import annotations

import collections
import logging
import re
from dataclasses import dataclass

from ..speech.split import split_parts
from ..speech.utterance import Utterance
from .events import Announcement, ChatMessage, Event, StreamEvent
from .filters import ChatFilter, WordList, remove_links
from .moderation import Moderation
from .options import ChatOptions, EventOptions, SpeechOptions
from .templates import format_amount, render
from .voices import normalize_login, voice_for

_LOGGER = logging.getLogger(__name__)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Drop:
    """Something not spoken, and why."""

    event_id: str
    source: str
    user: str
    reason: str
    """A sentence a streamer understands: ``"cooldown: spoke 3 s ago, ..."``."""
    text: str
    kind: str = ""
    """Short class for counters: ``no_prefix``, ``muted``, ``duplicate``, ``stale``, ..."""


class Pipeline:
    def __init__(self, *, chat: ChatOptions, events: EventOptions, speech: SpeechOptions,
                 moderation: Moderation) -> None:
        self.chat = chat
        self.events = events
        self.speech = speech
        self.moderation = moderation
        self.filter = ChatFilter(chat, moderation)
        self.drops: collections.Counter[str] = collections.Counter()
        self._event_words = WordList()

    def process(self, event: Event, now: float) -> Utterance | Drop:
        """``now``: monotonic seconds (cooldowns). Deadlines count from ``event.received_at``."""
        if isinstance(event, ChatMessage):
            result = self._chat(event, now)
        elif isinstance(event, StreamEvent):
            result = self._stream_event(event)
        else:
            result = self._announcement(event)
        if isinstance(result, Drop):
            self.drops[result.kind] += 1
            level = logging.DEBUG if result.kind == "no_prefix" else logging.INFO
            _LOGGER.log(level, "Dropped %s from %s: %s", event.wire_type, result.user or result.source,
                        result.reason)
        return result

    def _chat(self, msg: ChatMessage, now: float) -> Utterance | Drop:
        verdict = self.filter.check(msg, now)
        if not verdict.ok:
            return Drop(msg.id, msg.source, msg.user, verdict.reason, msg.text, verdict.kind)
        cheer = msg.bits > 0 and bool(self.chat.bits_template)
        template = self.chat.bits_template if cheer else self.chat.template
        text = render(template, user=msg.user, login=msg.login, message=verdict.text,
                      bits=msg.bits, channel=msg.channel)
        login = normalize_login(msg.login or msg.display_name)
        voice = voice_for(login, pool=self.chat.voice_pool, mapping=self.chat.voice_map,
                          default=self.chat.voice)
        utterance = self._utterance(msg, text, priority="chat", kind="chat", user=msg.user,
                                    login=login, voice=voice, backend=self.chat.backend,
                                    within=self.speech.chat_deadline_s)
        if isinstance(utterance, Utterance):
            utterance.message = verdict.text
        return utterance

    def _stream_event(self, ev: StreamEvent) -> Utterance | Drop:
        options = self.events.kind(ev.kind)
        if not self.events.enabled or options is None or not options.enabled:
            key = "events.enabled" if not self.events.enabled else f"events.{ev.kind}.enabled"
            return Drop(ev.id, ev.source, ev.user, f"{key} is off", ev.message, "event_off")
        bits = ev.kind == "bits"
        amount = (ev.amount or float(ev.count)) if bits else ev.amount
        if options.min_amount and amount < options.min_amount:
            said = format_amount(amount, "" if bits else ev.currency)
            return Drop(ev.id, ev.source, ev.user,
                        f"{said} is under events.{ev.kind}.min_amount ({options.min_amount:g})",
                        ev.message, "under_min_amount")
        text = render(options.template, user=ev.user or "Someone", kind=ev.kind,
                      message=self._event_message(ev), count=ev.count, currency=ev.currency,
                      amount=format_amount(amount, "" if bits else ev.currency))
        return self._utterance(ev, text, priority="event", kind=ev.kind, user=ev.user,
                               login=normalize_login(ev.user), voice=self.events.voice,
                               backend=self.events.backend, within=self.speech.event_deadline_s)

    def _event_message(self, ev: StreamEvent) -> str:
        """The viewer's message on a paid event: said unless muted, blocked or too long (then the
        event is still said, without it: a donation is money)."""
        message = remove_links(ev.message) if self.chat.remove_links else ev.message
        message = _SPACES.sub(" ", message).strip()
        words = (*self.chat.blocked_words, *self.moderation.blocked_words())
        why = ("the user is muted" if self.moderation.is_muted(ev.user, ev.received_at)
               else "it has a blocked word" if self._event_words.find(message, words)
               else "it is over chat.max_length" if self.chat.max_length
               and len(message) > self.chat.max_length else "")
        if why and message:
            _LOGGER.info("Saying %s's %s without its message: %s", ev.user, ev.kind, why)
            return ""
        return message

    def _announcement(self, ann: Announcement) -> Utterance | Drop:
        return self._utterance(ann, ann.text, priority="announcement", kind=ann.source, user="",
                               login="", voice=ann.voice or None, backend=ann.backend or None,
                               within=self.speech.announcement_deadline_s)

    def _utterance(self, event: Event, text: str, *, priority: str, kind: str, user: str,
                   login: str, voice: str | None, backend: str | None,
                   within: float) -> Utterance | Drop:
        text = _SPACES.sub(" ", text).strip()
        parts = split_parts(text, max_chars=self.speech.max_part_chars)
        if not parts:
            return Drop(event.id, event.source, user, "nothing to say", text, "empty")
        return Utterance(id=event.id, text=text, parts=parts, priority=priority,
                         source=event.source, user=user, login=login, voice=voice,
                         backend=backend, created=event.received_at,
                         deadline=event.received_at + within if within else None, kind=kind)
