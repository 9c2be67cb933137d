output "vpc_id" {
  value = alicloud_vpc.this.id
}

output "vswitch_ids" {
  value = alicloud_vswitch.this[*].id
}

output "app_security_group_id" {
  value = alicloud_security_group.app.id
}

output "lb_security_group_id" {
  value = alicloud_security_group.lb.id
}

output "alarm_contact_group" {
  value = alicloud_cms_alarm_contact_group.this.alarm_contact_group_name
}
