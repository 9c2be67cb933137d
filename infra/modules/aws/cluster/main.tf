# One cluster network per (AWS region): VPC, public subnets (load balancer, NAT) and private
# subnets (services) over several AZs, a NAT gateway, security groups and VPC flow logs.
# Services are placed into it by the app module; moving a service never changes the cluster.

# Zones are picked from a closed list of names (var.zone_names, else <region>a to <region>d), so the
# subnets never move to a zone AWS adds later.
data "aws_availability_zones" "available" {
  region = var.region
  state  = "available"

  filter {
    name   = "zone-name"
    values = coalesce(var.zone_names, [for suffix in ["a", "b", "c", "d"] : "${var.region}${suffix}"])
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  azs  = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  tags = merge(var.tags, { "swen:cluster" = var.name, "managed-by" = "terraform" })
}

resource "aws_vpc" "this" {
  region               = var.region
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })
}

# The VPC's default security group allows nothing: every resource uses one of the groups below.
resource "aws_default_security_group" "this" {
  region = var.region
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-default-deny-all" })
}

resource "aws_internet_gateway" "this" {
  region = var.region
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count = var.az_count

  region                  = var.region
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, 4, count.index)
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-public-${local.azs[count.index]}", tier = "public" })
}

resource "aws_subnet" "private" {
  count = var.az_count

  region            = var.region
  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.cidr_block, 4, count.index + 8)
  tags              = merge(local.tags, { Name = "${var.name}-private-${local.azs[count.index]}", tier = "private" })
}

resource "aws_eip" "nat" {
  region = var.region
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.name}-nat" })
}

resource "aws_nat_gateway" "this" {
  region        = var.region
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public[0].id
  tags          = merge(local.tags, { Name = var.name })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  region = var.region
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-public" })

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
}

resource "aws_route_table" "private" {
  region = var.region
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = "${var.name}-private" })

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this.id
  }
}

resource "aws_route_table_association" "public" {
  count = var.az_count

  region         = var.region
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  region         = var.region
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# --- security groups: the load balancer faces the world on 443, services only accept the LB --------

resource "aws_security_group" "lb" {
  # checkov:skip=CKV2_AWS_5:the group of the load balancer in front of the services (lb_security_group_id); the services' group admits only it, and the load balancer is attached by the caller
  region      = var.region
  name        = "${var.name}-lb"
  description = "SWEN load balancer: HTTPS in, service port out"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-lb" })
}

resource "aws_vpc_security_group_ingress_rule" "lb_https" {
  for_each = toset(var.ingress_cidrs)

  region            = var.region
  security_group_id = aws_security_group.lb.id
  description       = "HTTPS from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "lb_to_services" {
  region                       = var.region
  security_group_id            = aws_security_group.lb.id
  description                  = "to the services"
  ip_protocol                  = "tcp"
  from_port                    = var.service_port
  to_port                      = var.service_port
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_security_group" "app" {
  # checkov:skip=CKV2_AWS_5:attached by the app module (launch template and EFS mount targets) through app_security_group_id, a module boundary checkov does not follow
  region      = var.region
  name        = "${var.name}-app"
  description = "SWEN services: only the load balancer may connect"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-app" })
}

resource "aws_vpc_security_group_ingress_rule" "app_from_lb" {
  region                       = var.region
  security_group_id            = aws_security_group.app.id
  description                  = "service port from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.service_port
  to_port                      = var.service_port
  referenced_security_group_id = aws_security_group.lb.id
}

resource "aws_vpc_security_group_egress_rule" "app_https" {
  region            = var.region
  security_group_id = aws_security_group.app.id
  description       = "HTTPS out (package mirrors, AWS APIs) through the NAT gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "app_nfs_self" {
  region                       = var.region
  security_group_id            = aws_security_group.app.id
  description                  = "NFS between services and their file systems (stateful services)"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_vpc_security_group_egress_rule" "app_nfs_self" {
  region                       = var.region
  security_group_id            = aws_security_group.app.id
  description                  = "NFS to the service file systems"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.app.id
}

# --- VPC flow logs, encrypted with the cluster's own key ---------------------------------------------

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  log_groups   = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/swen/${var.name}/*"
}

resource "aws_kms_key" "logs" {
  region                  = var.region
  description             = "${var.name}: CloudWatch Logs of the cluster"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy: "*" as the resource means this key. The account administers it; CloudWatch Logs
  # may use it only for this cluster's log groups.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsUsesIt"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = local.log_groups } }
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "logs" {
  region        = var.region
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  region            = var.region
  name              = "/swen/${var.name}/vpc-flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = local.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "flow_logs_write" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs_write.json
}

resource "aws_flow_log" "this" {
  region          = var.region
  vpc_id          = aws_vpc.this.id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
  tags            = local.tags
}

# --- alarm topic shared by the services of this cluster ----------------------------------------------

resource "aws_sns_topic" "alarms" {
  region            = var.region
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
  tags              = local.tags
}
