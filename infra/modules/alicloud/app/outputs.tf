output "scaling_group_id" {
  value = alicloud_ess_scaling_group.this.id
}

output "placement" {
  description = "Where this service runs (the region is the provider configuration's)."
  value       = { provider = "alibaba", instance_type = var.instance_type }
}

output "file_system_id" {
  description = "NAS file system of a stateful service (null otherwise)."
  value       = try(alicloud_nas_file_system.data[0].id, null)
}
