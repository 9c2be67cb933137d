# Production root: places every service of service_placement (infra/terraform.tfvars) on its
# provider and region.
#
#   terraform -chdir=envs/prod init
#   terraform -chdir=envs/prod plan -var-file=../../terraform.tfvars -out=plan.tfplan
#
# Clusters (network, security groups) exist in every supported region whether or not a service runs
# there, so moving a service only replaces that service's resources (module.*app*["<service>"]),
# which is what the policy gate expects. AWS uses the provider's per-resource region (v6); Alibaba
# Cloud needs one provider configuration per region (alicloud.tf).

module "placement" {
  source            = "../../modules/placement"
  service_placement = var.service_placement
}

locals {
  # provider-region => VPC CIDR. Every region of module.placement.supported_regions needs one.
  cluster_cidrs = {
    "aws-us-east-1"          = "10.10.0.0/16"
    "aws-us-west-2"          = "10.11.0.0/16"
    "aws-eu-west-1"          = "10.12.0.0/16"
    "aws-ap-northeast-1"     = "10.13.0.0/16"
    "aws-ap-southeast-1"     = "10.14.0.0/16"
    "aws-us-east-2"          = "10.15.0.0/16"
    "aws-us-west-1"          = "10.16.0.0/16"
    "aws-ca-central-1"       = "10.17.0.0/16"
    "aws-eu-west-2"          = "10.18.0.0/16"
    "aws-eu-central-1"       = "10.19.0.0/16"
    "aws-ap-south-1"         = "10.24.0.0/16"
    "aws-ap-northeast-2"     = "10.25.0.0/16"
    "alibaba-ap-southeast-1" = "10.20.0.0/16"
    "alibaba-ap-northeast-1" = "10.21.0.0/16"
    "alibaba-eu-central-1"   = "10.22.0.0/16"
    "alibaba-us-west-1"      = "10.23.0.0/16"
  }

  aws_regions = toset(module.placement.supported_regions["aws"])

  # The Alibaba placements per region, for the per-region module calls in alicloud.tf.
  alicloud_apps = {
    for region in module.placement.supported_regions["alibaba"] : region => {
      for name, p in module.placement.by_provider["alibaba"] : name => p if p.region == region
    }
  }
}

check "every_supported_region_has_a_cluster" {
  assert {
    condition = alltrue(flatten([
      for provider, regions in module.placement.supported_regions : [
        for region in regions : contains(keys(local.cluster_cidrs), "${provider}-${region}")
      ]
    ]))
    error_message = "A supported region has no cluster CIDR in local.cluster_cidrs (envs/prod/main.tf)."
  }
}

# --- AWS ---------------------------------------------------------------------------------------------

module "aws_cluster" {
  source   = "../../modules/aws/cluster"
  for_each = local.aws_regions

  name          = "swen-aws-${each.key}"
  region        = each.key
  cidr_block    = local.cluster_cidrs["aws-${each.key}"]
  ingress_cidrs = var.ingress_cidrs
  tags          = var.tags
}

module "aws_app" {
  source   = "../../modules/aws/app"
  for_each = module.placement.by_provider["aws"]

  service            = each.key
  region             = each.value.region
  instance_type      = each.value.instance_type
  gpu_count          = each.value.gpu_count
  replicas           = each.value.replicas
  stateful           = each.value.stateful
  subnet_ids         = module.aws_cluster[each.value.region].private_subnet_ids
  security_group_ids = [module.aws_cluster[each.value.region].app_security_group_id]
  alarm_topic_arn    = module.aws_cluster[each.value.region].alarm_topic_arn
  tags               = var.tags
}
