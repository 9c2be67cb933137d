# One service on AWS: a launch template (GPU AMI when gpu_count > 0), an auto-scaling group over the
# cluster's private subnets with CPU target tracking, CloudWatch alarms (CPU, unhealthy capacity and
# GPU utilisation for GPU services) and, for a stateful service, an encrypted EFS file system.

locals {
  name = "swen-${var.service}"
  tags = merge(var.tags, { "swen:service" = var.service, "managed-by" = "terraform" })
  gpu  = var.gpu_count > 0

  # Public SSM parameters that always point at the current AMI of the region.
  ami_parameter = local.gpu ? "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id" : "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

  user_data = <<-EOT
    #!/bin/bash
    set -euo pipefail
    dnf install -y amazon-cloudwatch-agent ${var.stateful ? "amazon-efs-utils" : ""}
    %{~if var.stateful~}
    mkdir -p /data
    echo "${try(aws_efs_file_system.data[0].id, "")}:/ /data efs _netdev,tls 0 0" >> /etc/fstab
    mount -a
    %{~endif~}
    /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
      -c ssm:/swen/cloudwatch-agent/${local.gpu ? "gpu" : "default"}
  EOT
}

data "aws_ssm_parameter" "ami" {
  region = var.region
  name   = local.ami_parameter
}

# --- identity: SSM access and the CloudWatch agent, nothing else -------------------------------------

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = local.name
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
}

resource "aws_iam_instance_profile" "this" {
  name = local.name
  role = aws_iam_role.this.name
  tags = local.tags
}

# --- compute -----------------------------------------------------------------------------------------

resource "aws_launch_template" "this" {
  region                 = var.region
  name_prefix            = "${local.name}-"
  image_id               = data.aws_ssm_parameter.ami.insecure_value
  instance_type          = var.instance_type
  vpc_security_group_ids = var.security_group_ids
  user_data              = base64encode(local.user_data)
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = local.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "this" {
  region              = var.region
  name                = local.name
  vpc_zone_identifier = var.subnet_ids
  min_size            = var.replicas
  desired_capacity    = var.replicas
  max_size            = var.replicas * var.max_scale_factor
  health_check_type   = "EC2"
  enabled_metrics     = ["GroupInServiceInstances", "GroupDesiredCapacity"]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_autoscaling_policy" "cpu" {
  region                 = var.region
  name                   = "${local.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_percent
  }
}

# --- alarms --------------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  region              = var.region
  alarm_name          = "${local.name}-cpu-high"
  alarm_description   = "${var.service}: average CPU above 85 % for 10 minutes despite scaling"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = 85
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this.name }
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "capacity_low" {
  region              = var.region
  alarm_name          = "${local.name}-capacity-low"
  alarm_description   = "${var.service}: fewer healthy instances than replicas (capacity or GPU shortage)"
  namespace           = "AWS/AutoScaling"
  metric_name         = "GroupInServiceInstances"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.replicas
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this.name }
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "gpu_saturated" {
  count = local.gpu ? 1 : 0

  region              = var.region
  alarm_name          = "${local.name}-gpu-saturated"
  alarm_description   = "${var.service}: GPU utilisation above 95 % for 15 minutes (CloudWatch agent nvidia_smi)"
  namespace           = "CWAgent"
  metric_name         = "nvidia_smi_utilization_gpu"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 95
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this.name }
  alarm_actions       = [var.alarm_topic_arn]
  tags                = local.tags
}

# --- state (stateful services only) ----------------------------------------------------------------------
# Moving a stateful service plans the deletion of this file system: the policy gate denies that, so a
# person migrates the data first (see infra/README.md).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The service's data is encrypted with its own key (rotated yearly), not the account's default EFS key.
resource "aws_kms_key" "data" {
  count = var.stateful ? 1 : 0

  region                  = var.region
  description             = "${local.name}: EFS data of the service"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy ("*" means this key): the account administers and grants it; EFS uses it through
  # the account's IAM permissions.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = local.tags
}

resource "aws_efs_file_system" "data" {
  count = var.stateful ? 1 : 0

  region           = var.region
  creation_token   = local.name
  encrypted        = true
  kms_key_id       = aws_kms_key.data[0].arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"
  tags             = merge(local.tags, { Name = "${local.name}-data" })

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }
}

resource "aws_efs_backup_policy" "data" {
  count = var.stateful ? 1 : 0

  region         = var.region
  file_system_id = aws_efs_file_system.data[0].id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "data" {
  count = var.stateful ? length(var.subnet_ids) : 0

  region          = var.region
  file_system_id  = aws_efs_file_system.data[0].id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = var.security_group_ids
}
