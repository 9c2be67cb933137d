output "placements" {
  description = "The applied placement per service: service => { provider, region }."
  value = merge(
    { for name, app in module.aws_app : name => { provider = "aws", region = app.placement.region } },
    { for name, app in module.alicloud_app_ap_southeast_1 : name => { provider = "alibaba", region = "ap-southeast-1" } },
    { for name, app in module.alicloud_app_ap_northeast_1 : name => { provider = "alibaba", region = "ap-northeast-1" } },
    { for name, app in module.alicloud_app_eu_central_1 : name => { provider = "alibaba", region = "eu-central-1" } },
    { for name, app in module.alicloud_app_us_west_1 : name => { provider = "alibaba", region = "us-west-1" } },
  )
}
