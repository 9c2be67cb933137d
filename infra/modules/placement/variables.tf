variable "service_placement" {
  description = "Where each service runs: service name => placement. Read from infra/terraform.tfvars."
  type = map(object({
    provider      = string
    region        = string
    instance_type = string
    gpu_count     = optional(number, 0)
    stateful      = optional(bool, false)
    replicas      = optional(number, 1)
  }))

  validation {
    condition     = alltrue([for name in keys(var.service_placement) : can(regex("^[a-z][a-z0-9-]{0,62}$", name))])
    error_message = "Every service name must be a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63 characters."
  }

  validation {
    condition     = alltrue([for p in values(var.service_placement) : contains(keys(local.supported_regions), p.provider)])
    error_message = "Every placement's provider must be one with a Terraform module here: aws or alibaba (GCP is scored, not applied)."
  }

  validation {
    condition = alltrue([
      for p in values(var.service_placement) :
      contains(lookup(local.supported_regions, p.provider, []), p.region)
    ])
    error_message = "Every placement's region must be one where a cluster is declared (see local.supported_regions in infra/modules/placement)."
  }

  validation {
    condition     = alltrue([for p in values(var.service_placement) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", p.instance_type))])
    error_message = "Every instance_type must be a provider instance type name such as m5.large or ecs.g7.large."
  }

  validation {
    condition = alltrue([
      for p in values(var.service_placement) :
      p.gpu_count >= 0 && p.gpu_count <= 64 && floor(p.gpu_count) == p.gpu_count
    ])
    error_message = "gpu_count must be a whole number between 0 and 64."
  }

  validation {
    condition = alltrue([
      for p in values(var.service_placement) :
      p.replicas >= 1 && p.replicas <= 1000 && floor(p.replicas) == p.replicas
    ])
    error_message = "replicas must be a whole number between 1 and 1000."
  }
}
