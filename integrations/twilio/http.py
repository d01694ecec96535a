"""An async HTTP client for the official ``twilio`` library that can talk to
another base URL (the library has no such option; tests use a local fake).

It also keeps request bodies out of the logs: the library's own clients log
every request's form fields, which hold phone numbers and message text.
"""

from __future__ import annotations

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

TWILIO_API = "https://api.twilio.com"


class RebasedHttpClient(AsyncHttpClient):
    def __init__(self, base_url: str = TWILIO_API, timeout: float = 10.0) -> None:
        super().__init__(logger=None, is_async=True, timeout=timeout)  # type: ignore[arg-type]
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout)
        self.last_retry_after: float | None = None

    def rebase(self, url: str) -> str:
        # Only Twilio's own host, not a longer name that starts the same.
        if url == TWILIO_API or url.startswith(TWILIO_API + "/"):
            return self.base_url + url[len(TWILIO_API) :]
        return url

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        response = await self._client.request(
            method.upper(),
            self.rebase(uri),
            params=params,  # type: ignore[arg-type]
            data=data,  # type: ignore[arg-type]
            headers=headers,
            auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            follow_redirects=allow_redirects,
        )
        if response.status_code == 429:
            # The twilio library's exception drops the headers; keep Twilio's wait.
            wait = response.headers.get("retry-after", "")
            self.last_retry_after = float(wait) if wait.replace(".", "", 1).isdigit() else None
        return Response(response.status_code, response.text, response.headers)

    async def aclose(self) -> None:
        await self._client.aclose()
