"""Local serving: the endpoint registry, the key-auth front with blue/green switching, the
azureml-inference-server-http deployments behind it, and the local batch endpoint.

A crashed deployment is restarted by its front (the endpoint reports "restarting", holds
requests meanwhile, and turns "unhealthy" with HTTP 503 if three restarts fail).

Stdlib-only at import time: the front process imports this package and must start fast.
"""
