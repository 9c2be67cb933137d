terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    alicloud = {
      source  = "aliyun/alicloud"
      version = ">= 1.230.0, < 2.0.0"
    }
  }
}
