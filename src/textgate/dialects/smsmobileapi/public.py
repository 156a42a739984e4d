"""The public pages behind links in sent texts: ``/s/{code}`` redirects to the URL a short
link stands for (counting the click); ``/m/{code}`` shows an encrypted message once the key
the sender got is entered. No credentials: the code in the link is the capability."""

from __future__ import annotations

import html
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from textgate.dialects.base import lookup_services, read_body
from textgate.errors import AuthenticationFailed, Forbidden, NotFound, RequestTooLarge

__all__ = ["router"]

router = APIRouter(tags=["smsmobileapi links"], include_in_schema=False)

MAX_FORM_BYTES = 4096
# The pages show text the sender wrote: nothing from elsewhere may run or load.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Encrypted message</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:1rem}}</style></head>
<body><h1>Encrypted message</h1>{body}</body></html>"""
_FORM = """<p>{note}</p><form method="post"><label>Key <input name="key" autocomplete="off"
autofocus required></label> <button type="submit">Show</button></form>"""


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=status, headers=_HEADERS)


@router.get("/s/{code}")
async def follow(request: Request, code: str) -> Response:
    try:
        url = await lookup_services(request).short_links.follow(code)
    except NotFound:
        return HTMLResponse("<p>Unknown link.</p>", status_code=404, headers=_HEADERS)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/m/{code}")
async def sealed_form(request: Request, code: str) -> Response:
    if not await lookup_services(request).sealed_messages.exists(code):
        return _page("<p>Unknown message.</p>", 404)
    return _page(_FORM.format(note="Enter the key you were given to read this message."))


@router.post("/m/{code}")
async def sealed_open(request: Request, code: str) -> Response:
    try:
        body = await read_body(request, MAX_FORM_BYTES)
    except RequestTooLarge:
        return _page("<p>Request too large.</p>", 413)
    key = dict(parse_qsl(body.decode("utf-8", errors="replace"))).get("key", "")
    try:
        text = await lookup_services(request).sealed_messages.open(code, key)
    except NotFound:
        return _page("<p>Unknown message.</p>", 404)
    except Forbidden:
        return _page("<p>Too many wrong keys: this message is locked.</p>", 403)
    except AuthenticationFailed:
        return _page(_FORM.format(note="Wrong key. Try again."), 401)
    return _page(f"<pre>{html.escape(text)}</pre>")
