"""Everything between a source's event and an utterance: typed events, filters, moderation,
templates, language, voices and text normalization (see docs/hub.md)."""
