"""Watching the engine: metrics, alerts, electricity cost, history for charts, the terminal view."""
