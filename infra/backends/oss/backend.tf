# Alternative state backend for the production root: Alibaba Cloud OSS, encrypted, with a Tablestore
# table for locking. To use it, copy this file over infra/envs/prod/backend.tf and run
#   terraform -chdir=envs/prod init -migrate-state
# The bucket (private, versioned, server-side encryption) and the Tablestore instance and table are
# created once, outside this repository. Credentials come from ALICLOUD_ACCESS_KEY/ALICLOUD_SECRET_KEY
# or an instance RAM role, never from this file.

terraform {
  backend "oss" {
    bucket              = "swen-terraform-state"
    prefix              = "swen/prod"
    key                 = "terraform.tfstate"
    region              = "ap-southeast-1"
    acl                 = "private"
    encrypt             = true
    tablestore_endpoint = "https://swen-tf-lock.ap-southeast-1.ots.aliyuncs.com"
    tablestore_table    = "swen_terraform_locks"
  }
}
