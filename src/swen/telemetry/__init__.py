"""Telemetry: the price catalog (real AWS/GCP prices, synthetic Alibaba offers, measured RTT and egress),
the fleet file, injectable scenarios and the deterministic simulator.

Modules: ``catalog`` (Catalog, load_catalog), ``fleet`` (load_fleet), ``scenarios`` (Scenario,
load_scenario_file, inject_scenario), ``simulator`` (Simulator, SimClock), ``runner`` (run_simulator).
"""
