"""SWEN: a multi-cloud AIOps platform.

Watches each service's cost, latency, credits and GPU availability on every cloud that could host it,
scores the candidates, explains its decisions and carries moves out the GitOps way.
"""

__version__ = "0.1.0"
