"""Observability: Prometheus metrics (declared once in ``metrics``) and alert intake."""
