"""Model Factory: carries ML models from code to served endpoints through one task graph.

This package must import with the standard library only: the noxfile imports
``mlops._environment`` from nox's own interpreter before the shared environment exists.
"""
