"""The floor for ``bench.py``: the least a Twilio webhook endpoint must do.

    .venv/bin/python scripts/bench_bare.py --port 8081

Reads the form, checks its Twilio signature with twilio's ``RequestValidator``
against ``PRIVACYBOT_PUBLIC_URL`` + path (as the real adapter does, with
``TWILIO_AUTH_TOKEN``) and answers one fixed TwiML message: no database, no
dialogue. Served by uvicorn with the configuration ``privacybot serve`` uses
(``bot/cli``: lifespan on, no log config, no access log, no server header;
loop and HTTP parser left to uvicorn's ``auto``), so what the real server
takes beyond this is the cost of the bot itself.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
    "Halo! Ini layanan privasi JOVA POS.</Message></Response>"
)


def create_app(auth_token: str, public_url: str) -> Starlette:
    validator = RequestValidator(auth_token)
    base = public_url.rstrip("/")

    async def inbound(request: Request) -> Response:
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            return Response("missing signature", status_code=403)
        raw = await request.body()
        params = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        if not validator.validate(base + request.url.path, params, signature):
            return Response("invalid signature", status_code=403)
        return Response(ANSWER, media_type="application/xml")

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/webhooks/twilio", inbound, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    app = create_app(os.environ["TWILIO_AUTH_TOKEN"], os.environ["PRIVACYBOT_PUBLIC_URL"])
    config = uvicorn.Config(  # as bot.cli's serve
        app,
        host=args.host,
        port=args.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
