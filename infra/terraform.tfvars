# SWEN service placement: the single source of truth for where each service runs.
# Read by both roots: envs/prod (real providers) and envs/sim (offline, terraform_data):
#   terraform -chdir=envs/sim plan -var-file=../../terraform.tfvars
#
# Format contract (SWEN's GitOps committer edits this file):
# - one entry per service, keyed by the service name, in the order below;
# - every entry lists provider, region, instance_type, gpu_count, stateful and replicas, one per line;
# - a move rewrites only provider, region and instance_type of that one entry; comments survive.
# provider is "aws" or "alibaba"; regions must have a cluster (infra/modules/placement).

service_placement = {
  # Web front end, stateless.
  service-1 = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "m5.large"
    gpu_count     = 0
    stateful      = false
    replicas      = 2
  }

  # API back end, stateless.
  service-2 = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "m5.xlarge"
    gpu_count     = 0
    stateful      = false
    replicas      = 2
  }

  # Batch workers close to APAC users.
  service-3 = {
    provider      = "alibaba"
    region        = "ap-southeast-1"
    instance_type = "ecs.g7.large"
    gpu_count     = 0
    stateful      = false
    replicas      = 1
  }
}
