variable "service" {
  description = "Service name (DNS label); names every resource of the service."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.service))
    error_message = "service must be a DNS label."
  }
}

variable "instance_type" {
  description = "ECS instance type, e.g. ecs.g7.large or ecs.gn6i-c4g1.xlarge (GPU)."
  type        = string
}

variable "gpu_count" {
  description = "GPUs per instance; > 0 installs the NVIDIA driver at boot and adds a GPU alarm."
  type        = number
  default     = 0
}

variable "replicas" {
  description = "Desired instances; the scaling group may grow to replicas x max_scale_factor."
  type        = number
  default     = 1
}

variable "max_scale_factor" {
  description = "Upper bound of the scaling group as a multiple of replicas."
  type        = number
  default     = 3
}

variable "stateful" {
  description = "Gives the service an encrypted NAS file system mounted at /data (needs a person to move)."
  type        = bool
  default     = false
}

variable "vswitch_ids" {
  description = "VSwitches of the cluster."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the instances (the cluster's app group)."
  type        = string
}

variable "alarm_contact_group" {
  description = "CMS alarm contact group that receives the alarms."
  type        = string
}

variable "cpu_target_percent" {
  description = "Target tracking: average CPU the scaling group aims for."
  type        = number
  default     = 60
}

variable "system_disk_gb" {
  description = "System disk size (ESSD, encrypted)."
  type        = number
  default     = 50
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
