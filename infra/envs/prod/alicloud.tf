# Alibaba Cloud: one cluster and one app module call per region, each with its own provider
# configuration (providers.tf). A service moves between regions by leaving one module's for_each and
# entering another's: its old resources are destroyed and new ones created, all under module keys
# equal to the service name.

# --- ap-southeast-1 ---------------------------------------------------------------------------

module "alicloud_cluster_ap_southeast_1" {
  source    = "../../modules/alicloud/cluster"
  providers = { alicloud = alicloud.ap_southeast_1 }

  name          = "swen-alibaba-ap-southeast-1"
  cidr_block    = local.cluster_cidrs["alibaba-ap-southeast-1"]
  ingress_cidrs = var.ingress_cidrs
  tags          = var.tags
}

module "alicloud_app_ap_southeast_1" {
  source    = "../../modules/alicloud/app"
  providers = { alicloud = alicloud.ap_southeast_1 }
  for_each  = local.alicloud_apps["ap-southeast-1"]

  service             = each.key
  instance_type       = each.value.instance_type
  gpu_count           = each.value.gpu_count
  replicas            = each.value.replicas
  stateful            = each.value.stateful
  vswitch_ids         = module.alicloud_cluster_ap_southeast_1.vswitch_ids
  security_group_id   = module.alicloud_cluster_ap_southeast_1.app_security_group_id
  alarm_contact_group = module.alicloud_cluster_ap_southeast_1.alarm_contact_group
  tags                = var.tags
}

# --- ap-northeast-1 ---------------------------------------------------------------------------

module "alicloud_cluster_ap_northeast_1" {
  source    = "../../modules/alicloud/cluster"
  providers = { alicloud = alicloud.ap_northeast_1 }

  name          = "swen-alibaba-ap-northeast-1"
  cidr_block    = local.cluster_cidrs["alibaba-ap-northeast-1"]
  ingress_cidrs = var.ingress_cidrs
  tags          = var.tags
}

module "alicloud_app_ap_northeast_1" {
  source    = "../../modules/alicloud/app"
  providers = { alicloud = alicloud.ap_northeast_1 }
  for_each  = local.alicloud_apps["ap-northeast-1"]

  service             = each.key
  instance_type       = each.value.instance_type
  gpu_count           = each.value.gpu_count
  replicas            = each.value.replicas
  stateful            = each.value.stateful
  vswitch_ids         = module.alicloud_cluster_ap_northeast_1.vswitch_ids
  security_group_id   = module.alicloud_cluster_ap_northeast_1.app_security_group_id
  alarm_contact_group = module.alicloud_cluster_ap_northeast_1.alarm_contact_group
  tags                = var.tags
}

# --- eu-central-1 -----------------------------------------------------------------------------

module "alicloud_cluster_eu_central_1" {
  source    = "../../modules/alicloud/cluster"
  providers = { alicloud = alicloud.eu_central_1 }

  name          = "swen-alibaba-eu-central-1"
  cidr_block    = local.cluster_cidrs["alibaba-eu-central-1"]
  ingress_cidrs = var.ingress_cidrs
  tags          = var.tags
}

module "alicloud_app_eu_central_1" {
  source    = "../../modules/alicloud/app"
  providers = { alicloud = alicloud.eu_central_1 }
  for_each  = local.alicloud_apps["eu-central-1"]

  service             = each.key
  instance_type       = each.value.instance_type
  gpu_count           = each.value.gpu_count
  replicas            = each.value.replicas
  stateful            = each.value.stateful
  vswitch_ids         = module.alicloud_cluster_eu_central_1.vswitch_ids
  security_group_id   = module.alicloud_cluster_eu_central_1.app_security_group_id
  alarm_contact_group = module.alicloud_cluster_eu_central_1.alarm_contact_group
  tags                = var.tags
}

# --- us-west-1 --------------------------------------------------------------------------------

module "alicloud_cluster_us_west_1" {
  source    = "../../modules/alicloud/cluster"
  providers = { alicloud = alicloud.us_west_1 }

  name          = "swen-alibaba-us-west-1"
  cidr_block    = local.cluster_cidrs["alibaba-us-west-1"]
  ingress_cidrs = var.ingress_cidrs
  tags          = var.tags
}

module "alicloud_app_us_west_1" {
  source    = "../../modules/alicloud/app"
  providers = { alicloud = alicloud.us_west_1 }
  for_each  = local.alicloud_apps["us-west-1"]

  service             = each.key
  instance_type       = each.value.instance_type
  gpu_count           = each.value.gpu_count
  replicas            = each.value.replicas
  stateful            = each.value.stateful
  vswitch_ids         = module.alicloud_cluster_us_west_1.vswitch_ids
  security_group_id   = module.alicloud_cluster_us_west_1.app_security_group_id
  alarm_contact_group = module.alicloud_cluster_us_west_1.alarm_contact_group
  tags                = var.tags
}
