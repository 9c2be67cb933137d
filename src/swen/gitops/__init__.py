"""GitOps: edit terraform.tfvars, commit on a branch of the infra repository, open a merge request.

Modules: ``tfvars`` (read/edit the placement map), ``branch`` (validated branch names), ``template``
(where ``swen init`` gets the infra template), ``repo`` (the git repository and its origin),
``mr_hosts`` (local and GitLab merge-request hosts), ``committer`` (decision -> branch -> MR).
"""
