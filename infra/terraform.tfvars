# SWEN service placement: the single source of truth for where each service runs.
# Read by both roots: envs/prod (real providers) and envs/sim (offline, terraform_data):
#   terraform -chdir=envs/sim plan -var-file=../../terraform.tfvars
#
# Format contract (SWEN's GitOps committer edits this file):
# - one entry per service, keyed by the service name, in the order below;
# - every entry lists provider, region, instance_type, gpu_count, stateful and replicas, one per line;
# - a move rewrites only provider, region and instance_type of that one entry; comments survive.
# provider is "aws" or "alibaba"; regions must have a cluster (infra/modules/placement).
# The default entries mirror src/swen/data/fleet.yaml (current placement, stateful, replicas, GPU
# count) with the catalog's cheapest fitting instance type; tests/integration/test_terraform.py checks it.

service_placement = {
  # Web front end (2 vCPU, 8 GiB), users in us-east-1.
  service-1 = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "m5.large"
    gpu_count     = 0
    stateful      = false
    replicas      = 2
  }

  # API back end (8 vCPU, 16 GiB, compute-optimised), users on the US west coast.
  service-2 = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "c5.2xlarge"
    gpu_count     = 0
    stateful      = false
    replicas      = 4
  }

  # Batch workers (8 vCPU, 16 GiB) close to APAC users.
  service-3 = {
    provider      = "alibaba"
    region        = "ap-southeast-1"
    instance_type = "ecs.c7.2xlarge"
    gpu_count     = 0
    stateful      = false
    replicas      = 1
  }

  # Database-backed API: stateful, every move needs a person.
  orders-api = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "r5.2xlarge"
    gpu_count     = 0
    stateful      = true
    replicas      = 1
  }

  # Reporting API, latency-tolerant.
  analytics-api = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "m5.xlarge"
    gpu_count     = 0
    stateful      = false
    replicas      = 1
  }

  # Search for European users.
  search-api = {
    provider      = "aws"
    region        = "eu-west-1"
    instance_type = "m5.xlarge"
    gpu_count     = 0
    stateful      = false
    replicas      = 1
  }

  # GPU: online LLM inference on 1x NVIDIA A10G (AWS g5).
  inference-a10g = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "g5.xlarge"
    gpu_count     = 1
    stateful      = false
    replicas      = 1
  }

  # GPU: embeddings on 1x T4; data residency keeps it in Asia.
  embeddings-t4 = {
    provider      = "alibaba"
    region        = "ap-northeast-1"
    instance_type = "ecs.gn6i-c4g1.xlarge"
    gpu_count     = 1
    stateful      = false
    replicas      = 1
  }

  # GPU: batch training on 8x A100 (p4d.24xlarge).
  training-a100 = {
    provider      = "aws"
    region        = "us-east-1"
    instance_type = "p4d.24xlarge"
    gpu_count     = 8
    stateful      = false
    replicas      = 1
  }

  # GPU: nightly batch scoring on 1x T4 next to its data.
  batch-t4 = {
    provider      = "aws"
    region        = "us-west-2"
    instance_type = "g4dn.xlarge"
    gpu_count     = 1
    stateful      = false
    replicas      = 1
  }
}
