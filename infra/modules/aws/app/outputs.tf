output "autoscaling_group_name" {
  value = aws_autoscaling_group.this.name
}

output "placement" {
  description = "Where this service runs."
  value       = { provider = "aws", region = var.region, instance_type = var.instance_type }
}

output "file_system_id" {
  description = "EFS file system of a stateful service (null otherwise)."
  value       = try(aws_efs_file_system.data[0].id, null)
}
