# Provider-neutral placement logic shared by the production root (envs/prod) and the offline
# root (envs/sim): validates the service_placement map and splits it by provider and region.
# It declares no provider, so it runs offline.

terraform {
  required_version = ">= 1.9.0"
}

locals {
  # The regions where the platform keeps a cluster (network + security groups). A placement can only
  # target one of these. Keep in sync with the clusters declared in envs/prod.
  supported_regions = {
    aws = [
      "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
      "eu-central-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
    ]
    alibaba = ["ap-southeast-1", "ap-northeast-1", "eu-central-1", "us-west-1"]
  }

  placements = {
    for name, p in var.service_placement : name => {
      service       = name
      provider      = p.provider
      region        = p.region
      instance_type = p.instance_type
      gpu_count     = p.gpu_count
      stateful      = p.stateful
      replicas      = p.replicas
      cluster       = "${p.provider}-${p.region}"
    }
  }
}
