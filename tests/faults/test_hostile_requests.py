"""Issue 11, items 6, 7 and 11 against a real endpoint (front + keeper + azmlinfsrv):

6. the key check cannot be walked around through the deployment's own port;
7. numbers a field cannot hold and deep nesting are a 400 naming the field, not a 500 or a
   wrong 200;
11. a form-urlencoded body and PUT/DELETE/OPTIONS get JSON answers that say what to send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.serving.client import request
from mlops.serving.settings import TOKEN_HEADER

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

ROW = {"distance": 3.5, "passengers": 2, "vendor": "CMT", "pickup_hour": 8}


def _listening_ports() -> set[int]:
    """Ports in LISTEN state on 127.0.0.1 (what `ss -ltn` shows), from /proc/net/tcp."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and address == "0100007F":
            ports.add(int(port, 16))
    return ports


def _score(endpoint, body: bytes, **kwargs):
    _, _, key, uri = endpoint
    return request(uri, body, key=key, timeout=60, **kwargs)


# -- 6: only the front is reachable without the deployment's own secret --------------------------
def test_the_deployment_port_refuses_requests_without_its_token(endpoint, sample):
    registry, name, key, uri = endpoint
    status = request(uri.replace("/score", "/.factory/status"), key=key).json()
    port = status["port"]  # what an attacker reads from the status or from `ss -ltn`
    assert port in _listening_ports()
    body = sample.read_bytes()
    for path, method in (("/score", "POST"), ("/score", "GET"), ("/", "GET"),
                         ("/swagger.json", "GET")):
        for headers in ({}, {TOKEN_HEADER: "guess"}, {"Authorization": f"Bearer {key}"}):
            reply = request(f"http://127.0.0.1:{port}{path}",
                            body if method == "POST" else None, method=method, headers=headers)
            assert reply.status == 403, (path, headers, reply.text)
            assert "only its endpoint's front" in reply.json()["message"]
    assert _score(endpoint, body).status == 200  # the front, with the key, still works


def test_the_token_is_in_no_file_record_or_command_line(endpoint):
    registry, name, _, _ = endpoint
    record = registry.read(name)
    token = registry.deployment_token(name, record.live_deployment.folder)
    for path in registry.root.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".log", ".key", ".py", ""):
            assert token not in path.read_text(errors="replace"), path
    cmdline = Path(f"/proc/{record.live_deployment.process.pid}/cmdline").read_bytes()
    assert token.encode() not in cmdline


# -- 7: 400 naming the field -------------------------------------------------------------------
@pytest.mark.parametrize(("field", "raw", "expected"), [
    ("passengers", "9" * 400, "expected an integer from -9223372036854775808"),
    ("passengers", "1" + "0" * 30, "expected an integer from"),
    ("passengers", "1e300", "expected an integer from"),
    ("distance", "9" * 400, "expected a finite number"),
    ("pickup_hour", "-1" + "0" * 40, "expected an integer from"),
])
def test_numbers_a_field_cannot_hold_are_a_400_naming_it(endpoint, field, raw, expected):
    row = json.dumps({**ROW, field: 0}).replace(f'"{field}": 0', f'"{field}": {raw}')
    reply = _score(endpoint, f'{{"input_data": [{ROW_JSON}, {row}]}}'.encode())
    assert reply.status == 400, reply.text
    message = reply.json()["message"]
    assert f"input_data[1] field {field!r}: {expected}" in message and len(message) < 300


ROW_JSON = json.dumps(ROW)


@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 5_000 + "1" + "}" * 5_000,
    '{"input_data": [{"distance": ' + "[" * 100_000 + "]" * 100_000 + "}]}",
])
def test_deep_nesting_is_a_400_not_a_recursion_error(endpoint, body):
    reply = _score(endpoint, body.encode())
    assert reply.status == 400, reply.text
    assert "nests arrays or objects too deeply" in reply.json()["message"]


def test_a_valid_request_still_gets_predictions(endpoint):
    reply = _score(endpoint, json.dumps({"input_data": [ROW, ROW]}).encode())
    assert reply.status == 200 and len(reply.json()["predictions"]) == 2


# -- 11: JSON answers for the wrong content type and the wrong methods --------------------------
def test_a_form_body_is_told_to_send_json(endpoint):
    reply = _score(endpoint, b"input_data=1&x=2",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 415
    assert reply.json()["message"] == ("Content-Type 'application/x-www-form-urlencoded': send "
                                       "the request as JSON with 'Content-Type: "
                                       "application/json'")
    # what `curl -d @sample.json` sends: the same answer, not "request body is empty"
    curl = _score(endpoint, json.dumps({"input_data": [ROW]}).encode(),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert curl.status == 415 and "send the request as JSON" in curl.json()["message"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_get_a_json_405(endpoint, method):
    _, _, key, uri = endpoint
    reply = request(uri, b"{}", key=key, method=method)
    assert reply.status == 405
    assert reply.json() == {"message": f"{method} is not allowed on /score; use GET, POST"}
    unauthenticated = request(uri, None, method=method)
    assert unauthenticated.status == 405 and unauthenticated.json()["message"]
