"""`azmlinfsrv` as a local deployment runs it: bound to 127.0.0.1 and answering only its front.

azmlinfsrv hard-codes host 0.0.0.0 (constants.DEFAULT_HOST) and has no flag for it; the factory
serves on loopback only, so the constant is set before the server module reads it. Azure ML
reaches a deployment only through its endpoint; locally the deployment's port is visible to
anyone on the machine, so every request must carry the deployment's token (TOKEN_HEADER) that
only its front knows, else 403. The token comes in TOKEN_ENV and is removed from the
environment before the scoring script loads. Everything else is azmlinfsrv's own: its Flask
app, gunicorn sync workers (WORKER_COUNT), SCORING_TIMEOUT_MS, the score.py init()/run()
contract. Arguments are azmlinfsrv's (--entry_script, --model_dir, --port)."""

from __future__ import annotations

import hmac
import json
import os
import sys

from mlops.serving.settings import TOKEN_ENV, TOKEN_HEADER

HOST = "127.0.0.1"
_WSGI_HEADER = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")


def guarded(app, token: str):
    """WSGI middleware: the request must carry the deployment's token."""
    expected = token.encode()
    body = json.dumps({"message": "this port serves only its endpoint's front; send requests "
                                  "to the endpoint's scoring URI with its key"}).encode()

    def guard(environ, start_response):
        given = environ.get(_WSGI_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            start_response("403 Forbidden", [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return guard


def _install_guard(token: str) -> None:
    """Wrap the app gunicorn loads in each worker (after the fork, so init() runs there as
    azmlinfsrv does it) with the token check."""
    import gunicorn.app.wsgiapp as wsgiapp

    base = wsgiapp.WSGIApplication

    class Guarded(base):
        def load_wsgiapp(self):
            return guarded(super().load_wsgiapp(), token)

    wsgiapp.WSGIApplication = Guarded


def main() -> int | None:
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        print(f"{TOKEN_ENV} is not set: a local deployment only runs behind its front",
              file=sys.stderr)
        return 2
    import azureml_inference_server_http.constants as constants

    constants.DEFAULT_HOST = HOST
    from azureml_inference_server_http import amlserver

    amlserver.DEFAULT_HOST = HOST  # amlserver copied the constant with `import *`
    _install_guard(token)
    return amlserver.run()


if __name__ == "__main__":
    sys.exit(main())
