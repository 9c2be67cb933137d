# One cluster network per Alibaba Cloud region (the region comes from the provider configuration the
# root passes in): VPC, VSwitches over several zones, a NAT gateway with an EIP for egress, security
# groups (load balancer faces the world on 443, services accept only the load balancer) and a CMS
# alarm contact group for the services' alarms.

data "alicloud_zones" "available" {
  available_resource_creation = "VSwitch"
}

locals {
  zones = slice(data.alicloud_zones.available.zones[*].id, 0, var.zone_count)
  tags  = merge(var.tags, { "swen-cluster" = var.name, "managed-by" = "terraform" })
}

resource "alicloud_vpc" "this" {
  vpc_name   = var.name
  cidr_block = var.cidr_block
  tags       = local.tags
}

resource "alicloud_vswitch" "this" {
  count = var.zone_count

  vswitch_name = "${var.name}-${local.zones[count.index]}"
  vpc_id       = alicloud_vpc.this.id
  zone_id      = local.zones[count.index]
  cidr_block   = cidrsubnet(var.cidr_block, 4, count.index)
  tags         = local.tags
}

resource "alicloud_nat_gateway" "this" {
  vpc_id           = alicloud_vpc.this.id
  nat_gateway_name = var.name
  nat_type         = "Enhanced"
  vswitch_id       = alicloud_vswitch.this[0].id
  payment_type     = "PayAsYouGo"
  tags             = local.tags
}

resource "alicloud_eip_address" "nat" {
  address_name         = "${var.name}-nat"
  internet_charge_type = "PayByTraffic"
  payment_type         = "PayAsYouGo"
  tags                 = local.tags
}

resource "alicloud_eip_association" "nat" {
  allocation_id = alicloud_eip_address.nat.id
  instance_id   = alicloud_nat_gateway.this.id
  instance_type = "Nat"
}

resource "alicloud_snat_entry" "this" {
  count = var.zone_count

  snat_table_id     = alicloud_nat_gateway.this.snat_table_ids
  source_vswitch_id = alicloud_vswitch.this[count.index].id
  snat_ip           = alicloud_eip_address.nat.ip_address

  depends_on = [alicloud_eip_association.nat]
}

# --- security groups -----------------------------------------------------------------------------------

resource "alicloud_security_group" "lb" {
  security_group_name = "${var.name}-lb"
  description         = "SWEN load balancer: HTTPS in"
  vpc_id              = alicloud_vpc.this.id
  tags                = local.tags
}

resource "alicloud_security_group_rule" "lb_https" {
  for_each = toset(var.ingress_cidrs)

  security_group_id = alicloud_security_group.lb.id
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  cidr_ip           = each.value
  policy            = "accept"
  priority          = 1
  description       = "HTTPS from ${each.value}"
}

resource "alicloud_security_group" "app" {
  security_group_name = "${var.name}-app"
  description         = "SWEN services: only the load balancer may connect"
  vpc_id              = alicloud_vpc.this.id
  tags                = local.tags
}

resource "alicloud_security_group_rule" "app_from_lb" {
  security_group_id        = alicloud_security_group.app.id
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "${var.service_port}/${var.service_port}"
  source_security_group_id = alicloud_security_group.lb.id
  policy                   = "accept"
  priority                 = 1
  description              = "service port from the load balancer"
}

resource "alicloud_security_group_rule" "app_nfs_self" {
  security_group_id        = alicloud_security_group.app.id
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "2049/2049"
  source_security_group_id = alicloud_security_group.app.id
  policy                   = "accept"
  priority                 = 1
  description              = "NFS between services and their NAS file systems (stateful services)"
}

resource "alicloud_security_group_rule" "app_egress_https" {
  security_group_id = alicloud_security_group.app.id
  type              = "egress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  cidr_ip           = "0.0.0.0/0"
  policy            = "accept"
  priority          = 1
  description       = "HTTPS out through the NAT gateway"
}

# --- alarm contacts -----------------------------------------------------------------------------------

resource "alicloud_cms_alarm_contact_group" "this" {
  alarm_contact_group_name = var.name
  describe                 = "SWEN alarms of ${var.name}"
}
