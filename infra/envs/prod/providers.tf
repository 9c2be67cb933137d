# Credentials come from the environment (AWS_* / ALICLOUD_ACCESS_KEY, ALICLOUD_SECRET_KEY or an
# instance role), never from this repository.

provider "aws" {
  region = var.aws_default_region

  default_tags {
    tags = var.tags
  }
}

# The Alibaba Cloud provider configures one region per provider block, and module calls cannot pick
# a provider dynamically: one aliased configuration per supported region (see alicloud.tf).
provider "alicloud" {
  alias  = "ap_southeast_1"
  region = "ap-southeast-1"
}

provider "alicloud" {
  alias  = "ap_northeast_1"
  region = "ap-northeast-1"
}

provider "alicloud" {
  alias  = "eu_central_1"
  region = "eu-central-1"
}

provider "alicloud" {
  alias  = "us_west_1"
  region = "us-west-1"
}
