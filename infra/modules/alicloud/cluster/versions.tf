terraform {
  required_version = ">= 1.9.0"

  required_providers {
    alicloud = {
      source  = "aliyun/alicloud"
      version = ">= 1.230.0, < 2.0.0"
    }
  }
}
