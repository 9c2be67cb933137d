output "vpc_id" {
  value = aws_vpc.this.id
}

output "public_subnet_ids" {
  value = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  value = aws_subnet.private[*].id
}

output "app_security_group_id" {
  value = aws_security_group.app.id
}

output "lb_security_group_id" {
  value = aws_security_group.lb.id
}

output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "logs_kms_key_arn" {
  value = aws_kms_key.logs.arn
}
