"""Test support shared by every test (importable as ``support``: pyproject puts ``tests`` on the path).

- ``support.builders``: one builder per domain object (placement, service, provider score, decision,
  telemetry sample), keyword overrides over realistic defaults;
- ``support.alertmanager``: Alertmanager v4 webhook payloads shaped like the recorded ones in
  ``tests/fixtures/alertmanager/``;
- ``support.platform``: one platform environment (home, settings, store, infra repo, move driver,
  optionally the engine loop) on real git and, when it runs a pipeline, real Terraform;
- ``support.http``: request helpers (bearer headers);
- ``support.cli``: ``swen`` run in-process through its console entry point (exit code, stdout, stderr).
"""
