"""The hub: every source's events through one pipeline into one speech queue, played on the stage.

``Hub`` wires the parts of docs/hub.md around a started ``Engine`` (synthesis): the sources of
config.yaml, the pipeline (filters, moderation, templates, voices), text normalization, the
speech queue with its journal, and the stage that feeds OBS. It knows no transport: the HTTP
layer (``engine.http.events``) and the sources call ``accept``; OBS's reports come in through
``stage.report``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

from .captions import SpeechLog
from .config import EngineConfig
from .errors import BadRequest, EngineError, NothingToSpeak
from .pipeline.events import Announcement, Event
from .pipeline.moderation import Moderation
from .pipeline.pipeline import Drop, Pipeline
from .secrets import Secrets
from .service import Engine
from .sources import source_class
from .sources.base import Source
from .speech.journal import Journal
from .speech.burst import BurstPolicy
from .speech.queue import SpeechQueue
from .speech.split import split_parts
from .speech.stage import Stage
from .speech.utterance import Utterance
from .pipeline.text import normalize

_LOGGER = logging.getLogger(__name__)
RECENT_IDS = 4096
"""Event ids remembered to drop repeats (a source that resends after a reconnect)."""


class Hub:
    def __init__(self, config: EngineConfig, engine: Engine, *, secrets: Secrets | None = None) -> None:
        self.config = config
        self.engine = engine
        data = config.data_path()
        self.moderation = Moderation(data / "moderation.json")
        self.pipeline = Pipeline(chat=config.chat, events=config.events, speech=config.speech,
                                 moderation=self.moderation)
        self.queue = SpeechQueue(max_items=config.speech.max_queue,
                                 dedupe_window_s=config.speech.dedupe_window_s)
        self.burst = BurstPolicy(config.speech)
        self.journal = _open_journal(data / "journal" / "speech.jsonl",
                                     max_bytes=int(config.speech.journal_max_mb * 2**20))
        self.stage = Stage(self.queue, self._submit_part, journal=self.journal,
                           outstanding=config.speech.outstanding_parts)
        self.log = SpeechLog(engine.job)
        """Recent outcomes and the caption, for the dashboard and the overlay."""
        self.stage.observers.append(self.log.on_stage)
        self.queue.on_drop = self.log.dropped
        self.secrets = secrets or Secrets.load()
        self.sources: dict[str, Source] = {}
        self.drops: Counter[str] = Counter()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._replay()
        self.stage.start()
        for name in self.config.enabled_sources():
            source = source_class(name)(self.config.source_options(name), emit=self.emit,
                                        secrets=self.secrets)
            self.sources[name] = source
            try:
                await source.start()
            except EngineError as exc:
                _LOGGER.error("Source %s cannot start: %s", name, exc.message)

    async def close(self) -> None:
        for source in self.sources.values():
            await source.close()  # a source may flush what it held (merged gifts) as it closes
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.stage.close()

    def _replay(self) -> None:
        """Announcements and stream events that were not played before the engine stopped."""
        if self.journal is None:
            return
        pending = self.journal.pending(time.time())
        for utterance, first_part in pending:
            self.stage.resume_from[utterance.id] = first_part
            self.queue.put(utterance, time.time())
            self._remember(utterance.id)
        if pending:
            _LOGGER.info("Replaying %d announcement(s) the engine had not finished", len(pending))
        self.journal.compact()

    # -- events in ---------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """For sources (sync): accept the event in the background; failures are logged, once."""
        task = asyncio.get_running_loop().create_task(self._accept_logged(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_logged(self, event: Event) -> None:
        try:
            await self.accept(event)
        except EngineError as exc:
            self._count_drop(Drop(event.id, getattr(event, "source", ""), "", exc.message, ""))

    async def accept(self, event: Event) -> Utterance | Drop:
        """Run an event through the pipeline into the queue. Returns the queued utterance or why
        it was dropped; raises ``BadRequest`` (and subclasses) for an announcement that cannot be
        spoken as asked, so an API caller gets a 4xx instead of silence."""
        if self._seen(event.id):
            return self._count_drop(Drop(event.id, _source(event), "", "duplicate event id", ""),
                                    quiet=True)
        if isinstance(event, Announcement):  # the streamer's own words: refuse loudly, never drop
            normalize(event.text, max_chars=self.config.server.max_text_chars,
                      options=self.config.text.options(chat=False))
        result = self.pipeline.process(event, time.monotonic())
        if isinstance(result, Drop):
            if isinstance(event, Announcement):
                raise NothingToSpeak(f"the announcement cannot be spoken: {result.reason}")
            return self._count_drop(result, quiet=True)
        try:
            await self._prepare(result)
        except BadRequest as exc:
            if isinstance(event, Announcement):
                raise
            return self._count_drop(Drop(event.id, _source(event), result.user, exc.message, result.text))
        self._remember(event.id)
        backlog = self.burst.backlog_s(self.queue)
        twin = self.burst.collapse_into(self.queue, result, backlog)
        if twin is not None:
            return self._count_drop(Drop(event.id, _source(event), result.user,
                                         f"collapsed into the same line from {twin.user or 'a viewer'} "
                                         f"(backlog {backlog:.0f} s)", result.text, "collapsed"))
        if self.journal is not None and result.journaled and not self.journal.add(result):
            return self._count_drop(Drop(event.id, _source(event), result.user, "duplicate event id", ""),
                                    quiet=True)
        drop = self.queue.put(result, time.time())
        if drop is not None:
            if self.journal is not None and result.journaled:
                self.journal.dropped(result.id, drop.reason)
            return drop
        self.log.queued(result)
        self.burst.trim(self.queue)  # chat only: announcements and events are never trimmed
        self.stage.wake()
        return result

    async def _prepare(self, u: Utterance) -> None:
        """Normalize the text and split it once; check an explicit voice or backend now."""
        u.text = normalize(u.text, max_chars=self.config.server.max_text_chars,  # one cap per message
                           options=self.config.text.options(chat=u.priority == "chat"))
        u.parts = split_parts(u.text, max_chars=self.config.speech.max_part_chars)
        if u.voice or u.backend:
            request = self.engine.make_request({"text": u.parts[0], "voice": u.voice or None,
                                                "backend": u.backend or None, "priority": u.priority})
            assert self.engine.router is not None
            await self.engine.router.plan(request)

    async def _submit_part(self, u: Utterance, part: int) -> dict[str, Any]:
        data: dict[str, Any] = {"text": u.parts[part], "voice": u.voice or None,
                                "backend": u.backend or None, "priority": u.priority}
        if u.deadline is not None and u.priority == "chat":
            data["deadline_ms"] = max(1000, int((u.deadline - time.time()) * 1000))
        if u.priority == "chat":
            data["rate"] = self.burst.rate(self.burst.backlog_s(self.queue))
        job = await self.engine.submit(self.engine.make_request(data))
        return {"job": job.id, "wav_url": f"/v1/jobs/{job.id}.wav"}

    # -- moderation --------------------------------------------------------------------------------
    def mute(self, login: str, seconds: float | None) -> int:
        """Mute a user from TTS at once: their queued and playing lines go too. Returns how many."""
        login = login.strip().lstrip("@").lower()
        self.moderation.mute(login, seconds)
        reason = "user muted" if seconds is None else f"user muted for {seconds:g} s"
        removed = self.queue.remove_user(login, reason)
        active = [u.id for u in self.stage.active() if u.login == login]
        for uid in active:
            self.stage.cancel(uid, reason)
        return len(removed) + len(active)

    # -- bookkeeping -------------------------------------------------------------------------------
    def _seen(self, event_id: str) -> bool:
        return event_id in self._recent or (self.journal is not None and self.journal.seen(event_id))

    def _remember(self, event_id: str) -> None:
        self._recent[event_id] = None
        while len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)

    def _count_drop(self, drop: Drop, *, quiet: bool = False) -> Drop:
        # the pipeline's kind when it gives one: a reason may name the user ("alice is muted")
        self.drops[drop.kind or _reason_class(drop.reason)] += 1
        if drop.reason != "duplicate event id":
            self.log.dropped(drop)
        log = _LOGGER.debug if quiet else _LOGGER.info
        log("Not speaking %s from %s: %s", drop.event_id[:8], drop.source or "?", drop.reason)
        return drop

    def status(self) -> dict[str, Any]:
        return {
            "stage": self.stage.status(),
            "queue": {"items": len(self.queue), "paused": self.queue.paused,
                      "drops": dict(self.queue.drops)},
            "pipeline_drops": dict(self.drops),
            "burst": {"backlog_s": round(self.burst.backlog_s(self.queue), 1),
                      "chat_rate": self.burst.rate(self.burst.backlog_s(self.queue))},
            "sources": {name: s.status().to_dict() for name, s in self.sources.items()},
            "moderation": self.moderation.status(),
            "journal": None if self.journal is None else {"path": str(self.journal.path)},
        }


def _open_journal(path: Path, *, max_bytes: int) -> Journal | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return Journal(path, max_bytes=max_bytes)
    except OSError as exc:
        _LOGGER.error("Announcement journal disabled: cannot open %s (%s); announcements will not "
                      "survive a restart", path, exc)
        return None


def _source(event: Event) -> str:
    return getattr(event, "source", "")


def _reason_class(reason: str) -> str:
    """``"user muted for 60 s"`` -> ``"user_muted"``: a label for counters and metrics."""
    words = [w for w in reason.split(":")[0].split()[:2] if w.isalpha()]
    return "_".join(words).lower() or "other"
