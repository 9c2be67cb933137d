variable "name" {
  description = "Cluster name, e.g. swen-aws-us-east-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name))
    error_message = "name must be a DNS label."
  }
}

variable "region" {
  description = "AWS region of the cluster (AWS provider v6 per-resource region)."
  type        = string
}

variable "cidr_block" {
  description = "VPC CIDR, e.g. 10.10.0.0/16. Subnets are carved from it (/20 each)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr_block, 0))
    error_message = "cidr_block must be an IPv4 CIDR."
  }
}

variable "az_count" {
  description = "Availability zones to spread subnets over."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
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

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow logs in CloudWatch Logs (at least a year, for investigations)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a CloudWatch Logs retention of at least 365 days (365, 400, 545, 731, ...)."
  }
}

variable "zone_names" {
  description = "Availability zones the cluster may use (default: <region>a to <region>d); a closed list, so a zone AWS adds later is never picked up."
  type        = list(string)
  default     = null

  validation {
    condition     = var.zone_names == null || length(coalesce(var.zone_names, [])) >= 2
    error_message = "zone_names must name at least two zones (az_count needs them)."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
