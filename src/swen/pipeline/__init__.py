"""The pipeline: terraform runner, plan summary and policy gate (policy as code).

- :mod:`swen.pipeline.terraform`: ``TerraformRunner`` runs the real terraform binary for one root.
- :mod:`swen.pipeline.plan_summary`: ``summarise_plan`` turns ``terraform show -json`` into a
  ``PlanSummary``.
- :mod:`swen.pipeline.policy`: ``PolicyGate`` evaluates ``policies/gate.rego`` in-process (regopy).

Nothing is imported here so that importing the package stays cheap; import the modules directly.
"""
