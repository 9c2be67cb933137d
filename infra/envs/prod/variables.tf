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

variable "aws_default_region" {
  description = "Region of the default AWS provider configuration (resources set their own region)."
  type        = string
  default     = "us-east-1"
}

variable "ingress_cidrs" {
  description = "Who may reach the services' load balancers on 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { project = "swen" }
}
