variable "service_placement" {
  description = "Where each service runs: service name => placement (see infra/terraform.tfvars)."
  type = map(object({
    provider      = string
    region        = string
    instance_type = string
    gpu_count     = optional(number, 0)
    stateful      = optional(bool, false)
    replicas      = optional(number, 1)
  }))
}
