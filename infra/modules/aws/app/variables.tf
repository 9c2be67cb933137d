variable "service" {
  description = "Service name (DNS label); names every resource of the service."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.service))
    error_message = "service must be a DNS label."
  }
}

variable "region" {
  description = "AWS region (AWS provider v6 per-resource region): changing it replaces the compute."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type, e.g. m5.large or g5.xlarge (GPU)."
  type        = string
}

variable "gpu_count" {
  description = "GPUs per instance; > 0 selects the GPU AMI and adds GPU alarms."
  type        = number
  default     = 0
}

variable "replicas" {
  description = "Desired instances; the auto-scaling group may grow to replicas x max_scale_factor."
  type        = number
  default     = 1
}

variable "max_scale_factor" {
  description = "Upper bound of the auto-scaling group as a multiple of replicas."
  type        = number
  default     = 3
}

variable "stateful" {
  description = "Gives the service an encrypted EFS file system, mounted at /data (needs a person to move)."
  type        = bool
  default     = false
}

variable "subnet_ids" {
  description = "Private subnets of the cluster."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the instances (the cluster's app group)."
  type        = list(string)
}

variable "alarm_topic_arn" {
  description = "SNS topic that receives the alarms."
  type        = string
}

variable "cpu_target_percent" {
  description = "Target tracking: average CPU the auto-scaling group aims for."
  type        = number
  default     = 60
}

variable "root_volume_gb" {
  description = "Root volume size (gp3, encrypted)."
  type        = number
  default     = 50
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
