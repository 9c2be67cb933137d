variable "name" {
  description = "Cluster name, e.g. swen-alibaba-ap-southeast-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name))
    error_message = "name must be a DNS label."
  }
}

variable "cidr_block" {
  description = "VPC CIDR, e.g. 10.20.0.0/16. VSwitches are carved from it (/20 each)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr_block, 0))
    error_message = "cidr_block must be an IPv4 CIDR."
  }
}

variable "zone_count" {
  description = "Zones to spread VSwitches over."
  type        = number
  default     = 2
}

variable "service_port" {
  description = "Port the services listen on behind the load balancer."
  type        = number
  default     = 8080
}

variable "ingress_cidrs" {
  description = "Who may reach the load balancer on 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
