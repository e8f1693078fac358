"""The HTTP face for people and integrations: the REST API (api/), the pages (pages/), the
live WebSocket (live.py), authentication (auth.py) and the ASGI app (app.py)."""
