"""SWEN: a multi-cloud AIOps platform.

Watches each service's cost, latency, credits and GPU availability on every cloud that could host it,
scores the candidates, explains its decisions and carries moves out the GitOps way.
"""

# regopy (the policy gate's Rego interpreter, ``pipeline/policy.py``) is loaded before anything loads
# libstdc++ (numpy does): its library defines its own ``operator new``/``delete``, and only when it
# is loaded first does libstdc++ bind to them. Loaded after numpy, every policy evaluation kept ~160 KB
# of malloc'd memory for good (measured with regopy 1.5.2: +32 MB over 200 evaluations; a 30-day
# replay of provider-outages at 1,000 services gates ~1,200 moves: ~190 MB of its peak RSS).
# ``tests/unit/pipeline/test_policy_memory.py`` checks it in a fresh process.
import regopy  # noqa: F401  (loaded for its side effect on symbol binding, see above)

__version__ = "0.1.0"
