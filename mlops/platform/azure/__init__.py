"""Azure Machine Learning: the same capabilities through azure-ai-ml, driven by the provisioned
workspace description. Capabilities: data.py, pipeline.py, endpoints.py, approval.py; every
network call goes through client.py."""
