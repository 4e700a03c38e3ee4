"""The embedded local platform: everything on this machine, driven by the provisioned
workspace description. Capabilities: data.py, pipeline.py, endpoints.py, approval.py."""
