"""The speech queue: utterances, their parts, the journal, and the stage that plays them in OBS."""
