# Remote state, encrypted at rest and locked (the seed's "encrypted state files").
# The state bucket, its KMS key and the lock table are created once, outside this root
# (see infra/README.md). Override per environment with a partial configuration:
#   terraform init -backend-config=bucket=... -backend-config=kms_key_id=...
# To keep the state in Alibaba Cloud OSS instead, replace this file with infra/backends/oss/backend.tf
# and run `terraform init -migrate-state`.

terraform {
  backend "s3" {
    bucket     = "swen-terraform-state"
    key        = "swen/prod/terraform.tfstate"
    region     = "us-east-1"
    encrypt    = true
    kms_key_id = "alias/swen-terraform-state"

    # Locking: S3-native lock files (Terraform >= 1.10) and the DynamoDB lock table that older
    # Terraform versions in the fleet still honour. Drop dynamodb_table once every runner is >= 1.10.
    use_lockfile   = true
    dynamodb_table = "swen-terraform-locks"
  }
}
