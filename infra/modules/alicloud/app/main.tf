# One service on Alibaba Cloud: an ESS scaling group over the cluster's VSwitches with a scaling
# configuration (GPU driver installed at boot when gpu_count > 0), CPU target tracking, CloudMonitor
# alarm rules on an application group built from the service's resource group and, for a stateful
# service, an encrypted NAS file system. The region comes from the provider configuration.

data "alicloud_images" "os" {
  name_regex  = "^aliyun_3_x64_20G_alibase_.*"
  owners      = "system"
  most_recent = true
}

locals {
  name = "swen-${var.service}"
  tags = merge(var.tags, { "swen-service" = var.service, "managed-by" = "terraform" })
  gpu  = var.gpu_count > 0

  user_data = <<-EOT
    #!/bin/bash
    set -euo pipefail
    %{~if local.gpu~}
    # NVIDIA driver and CUDA from Alibaba Cloud's GPU driver installer.
    curl -fsSL https://mirrors.cloud.aliyuncs.com/opsx/ecs/linux/binary/script/auto_install.sh -o /tmp/gpu.sh
    bash /tmp/gpu.sh
    %{~endif~}
    %{~if var.stateful~}
    mkdir -p /data
    echo "${try(alicloud_nas_mount_target.data[0].mount_target_domain, "")}:/ /data nfs vers=3,nolock,proto=tcp,_netdev 0 0" >> /etc/fstab
    mount -a
    %{~endif~}
  EOT
}

# Instances launched by the scaling group join this resource group; CloudMonitor builds the
# service's application group from it, so alarms follow the instances the group creates.
resource "alicloud_resource_manager_resource_group" "this" {
  resource_group_name = local.name
  display_name        = "SWEN ${var.service}"
}

resource "alicloud_ess_scaling_group" "this" {
  scaling_group_name = local.name
  min_size           = var.replicas
  desired_capacity   = var.replicas
  max_size           = var.replicas * var.max_scale_factor
  vswitch_ids        = var.vswitch_ids
  multi_az_policy    = "BALANCE"
  removal_policies   = ["OldestScalingConfiguration", "OldestInstance"]
  default_cooldown   = 300
  tags               = local.tags
}

resource "alicloud_ess_scaling_configuration" "this" {
  scaling_group_id           = alicloud_ess_scaling_group.this.id
  scaling_configuration_name = local.name
  image_id                   = data.alicloud_images.os.images[0].id
  instance_type              = var.instance_type
  instance_name              = local.name
  security_group_id          = var.security_group_id
  resource_group_id          = alicloud_resource_manager_resource_group.this.id
  system_disk_category       = "cloud_essd"
  system_disk_size           = var.system_disk_gb
  system_disk_encrypted      = true
  user_data                  = base64encode(local.user_data)
  internet_max_bandwidth_out = 0
  active                     = true
  enable                     = true
  force_delete               = true
  tags                       = local.tags
}

resource "alicloud_ess_scaling_rule" "cpu" {
  scaling_group_id          = alicloud_ess_scaling_group.this.id
  scaling_rule_name         = "${local.name}-cpu-target"
  scaling_rule_type         = "TargetTrackingScalingRule"
  metric_name               = "CpuUtilization"
  target_value              = var.cpu_target_percent
  estimated_instance_warmup = 300
}

# --- alarms (CloudMonitor) -------------------------------------------------------------------------

resource "alicloud_cms_monitor_group" "this" {
  monitor_group_name = local.name
  resource_group_id  = alicloud_resource_manager_resource_group.this.id
  contact_groups     = [var.alarm_contact_group]
}

resource "alicloud_cms_group_metric_rule" "cpu_high" {
  group_id               = alicloud_cms_monitor_group.this.id
  group_metric_rule_name = "${local.name}-cpu-high"
  rule_id                = "${local.name}-cpu-high"
  category               = "ecs"
  namespace              = "acs_ecs_dashboard"
  metric_name            = "CPUUtilization"
  period                 = 300
  contact_groups         = var.alarm_contact_group

  escalations {
    critical {
      comparison_operator = "GreaterThanThreshold"
      statistics          = "Average"
      threshold           = "85"
      times               = 2
    }
  }
}

resource "alicloud_cms_group_metric_rule" "gpu_saturated" {
  count = local.gpu ? 1 : 0

  group_id               = alicloud_cms_monitor_group.this.id
  group_metric_rule_name = "${local.name}-gpu-saturated"
  rule_id                = "${local.name}-gpu-saturated"
  category               = "ecs"
  namespace              = "acs_ecs_dashboard"
  metric_name            = "gpu_utilization"
  period                 = 300
  contact_groups         = var.alarm_contact_group

  escalations {
    warn {
      comparison_operator = "GreaterThanThreshold"
      statistics          = "Average"
      threshold           = "95"
      times               = 3
    }
  }
}

# --- state (stateful services only) ---------------------------------------------------------------------
# Moving a stateful service plans the deletion of this file system: the policy gate denies that, so a
# person migrates the data first (see infra/README.md).

resource "alicloud_nas_file_system" "data" {
  count = var.stateful ? 1 : 0

  protocol_type    = "NFS"
  storage_type     = "Performance"
  file_system_type = "standard"
  encrypt_type     = 1
  description      = "${local.name}-data"
  tags             = local.tags
}

resource "alicloud_nas_access_group" "data" {
  count = var.stateful ? 1 : 0

  access_group_name = local.name
  access_group_type = "Vpc"
  file_system_type  = "standard"
}

resource "alicloud_nas_mount_target" "data" {
  count = var.stateful ? 1 : 0

  file_system_id    = alicloud_nas_file_system.data[0].id
  access_group_name = alicloud_nas_access_group.data[0].access_group_name
  vswitch_id        = var.vswitch_ids[0]
  security_group_id = var.security_group_id
}
