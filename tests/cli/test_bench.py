"""``scripts/bench.py`` runs end to end on a fresh clone: both servers answer
the signed dialogue with TwiML, nothing calls Twilio's API, and the table is
printed. Nothing here checks speed: the numbers depend on the machine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_bare import create_app  # noqa: E402
from bench_load import Customer  # noqa: E402

TOKEN, PUBLIC = "secret-token", "https://bench.example"


def _signed(token: str) -> tuple[dict[str, str], bytes]:
    raw = Customer("+628500000001", "whatsapp:+14155238886", PUBLIC, token, "x").request("halo")
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
    return headers, body


def test_the_generator_signs_as_twilio_does() -> None:
    headers, body = _signed(TOKEN)
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    assert params["From"] == "whatsapp:+628500000001"
    assert params["Body"] == "halo"
    validator = RequestValidator(TOKEN)
    assert validator.validate(PUBLIC + "/webhooks/twilio", params, headers["X-Twilio-Signature"])


async def test_the_bare_endpoint_checks_the_signature() -> None:
    transport = httpx.ASGITransport(app=create_app(TOKEN, PUBLIC))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        for token, status in ((TOKEN, 200), ("another-token", 403)):
            headers, body = _signed(token)
            answer = await client.post("/webhooks/twilio", content=body, headers=headers)
            assert answer.status_code == status
            assert (b"<Response><Message>" in answer.content) == (status == 200)


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--duration", "1",
         "--warmup", "0.5", "--customers", "5", "--rate", "20", "--history", "50"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {}
    for name in ("bare", "privacybot"):
        found = re.search(rf"^\| {name} \| ([\d,]+) \| .*? \| (\d+) \| [\d.]+ / [\d.]+ \| "
                          r"[\d.]+ \|$", run.stdout, re.M)  # fmt: skip
        assert found, run.stdout
        rows[name] = found
    for name, row in rows.items():
        assert int(row[1].replace(",", "")) > 0, name  # messages a second at saturation
        assert row[2] == "0", name  # errors
    assert "calls to the Twilio REST API: 0" in run.stdout
    assert "history: 50 requests" in run.stdout
    assert "servers on core" in run.stdout or "not pinned" in run.stdout
