"""Local serving: the endpoint registry, the key-auth front with blue/green switching, the
azureml-inference-server-http deployments behind it, and the local batch endpoint.

Stdlib-only at import time: the front process imports this package and must start fast.
"""
