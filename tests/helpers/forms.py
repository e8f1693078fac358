"""The UI's forms as a browser sees them: the CSRF token a page carries, and logging in
through the login form with it."""

from __future__ import annotations

import re

import httpx

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def page_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    """The CSRF token in the page at ``path`` (the client keeps the session cookie)."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = TOKEN.search(page.text)
    assert found, f"no CSRF token in {path}"
    return found.group(1)


async def form_login(client: httpx.AsyncClient, who: str, password: str = "correct horse battery",
                     next_url: str = "/inbox") -> httpx.Response:
    token = await page_token(client)
    return await client.post("/login", data={"email": f"{who}@example.com", "password": password,
                                             "next": next_url, "csrf_token": token})
