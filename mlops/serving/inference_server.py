"""`azmlinfsrv` bound to 127.0.0.1. The server hard-codes host 0.0.0.0 (constants.DEFAULT_HOST)
and has no flag for it; the factory serves on loopback only, so set the constant before the
server module reads it. Arguments are azmlinfsrv's own (--entry_script, --model_dir, --port)."""

from __future__ import annotations

import sys

HOST = "127.0.0.1"


def main() -> int | None:
    import azureml_inference_server_http.constants as constants

    constants.DEFAULT_HOST = HOST
    from azureml_inference_server_http import amlserver

    amlserver.DEFAULT_HOST = HOST  # amlserver copied the constant with `import *`
    return amlserver.run()


if __name__ == "__main__":
    sys.exit(main())
