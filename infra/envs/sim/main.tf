# Offline root: models every service placement with Terraform's built-in terraform_data resource, so
# init/validate/plan/apply run without any provider download. It reads the same tfvars as envs/prod:
#
#   terraform -chdir=envs/sim init -input=false
#   terraform -chdir=envs/sim plan -input=false -var-file=../../terraform.tfvars -out=plan.tfplan
#
# State stays local (terraform.tfstate in this directory, ignored by git). The SWEN pipeline keeps it
# outside its throw-away worktrees: init -backend-config=path=$SWEN_HOME/tfstate/sim.tfstate.

terraform {
  required_version = ">= 1.9.0"

  backend "local" {}
}

module "placement" {
  source            = "../../modules/placement"
  service_placement = var.service_placement
}

# One resource per service. Moving a service (provider or region) replaces it, like the production
# root replaces the compute in the old location; other attribute changes update it in place.
resource "terraform_data" "placement" {
  for_each = module.placement.placements

  input = {
    service       = each.key
    provider      = each.value.provider
    region        = each.value.region
    cluster       = each.value.cluster
    instance_type = each.value.instance_type
    gpu_count     = each.value.gpu_count
    replicas      = each.value.replicas
    stateful      = each.value.stateful
  }

  triggers_replace = [each.value.provider, each.value.region]
}
