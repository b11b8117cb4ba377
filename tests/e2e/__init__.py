"""End-to-end tests in a real headless OBS Studio (Xvfb, software OpenGL, obs-websocket)."""
