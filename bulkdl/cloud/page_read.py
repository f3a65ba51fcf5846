"""A JSON answer read under a byte cap, as it streams in (a listing page, a job).

`resp.read()` would hold whatever the server sends (a 200 MB page cost 822 MB of RSS, as text
and then as objects); a page above `max_page_bytes` is refused once its Content-Length, or the
bytes read so far, pass the cap, so no more than the cap is ever held.
"""

from __future__ import annotations

import aiohttp


async def read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed `cap` bytes."""
    if resp.content_length is not None and resp.content_length > cap:
        return None
    buf = bytearray()
    async for chunk in resp.content.iter_any():
        buf += chunk
        if len(buf) > cap:
            return None
    return bytes(buf)
