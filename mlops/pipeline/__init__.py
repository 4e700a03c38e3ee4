"""The local pipeline runner: reads Azure ML pipeline and command-component YAML, orders the
jobs by their data dependencies, and runs each component command as a subprocess, reusing a
step's outputs when its code, inputs and parameters hash the same as a finished earlier run.

Modules: spec (typed pipeline/component), loader (YAML -> spec, clear errors), graph (order),
command (render a component command), hashing (content hashes), tracking (MLflow runs),
runner (execution).
"""
