"""The HTTP and WebSocket API: handlers depend on the core (engine, hub), never the reverse."""
