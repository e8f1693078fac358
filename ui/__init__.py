"""The HTTP face: REST API, WebSocket live events, and (later) the agent web UI."""
