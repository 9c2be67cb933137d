output "placements" {
  description = "The applied placement per service: service => { provider, region }."
  value = {
    for name, r in terraform_data.placement : name => {
      provider = r.output.provider
      region   = r.output.region
    }
  }
}

output "services" {
  description = "The applied placement per service with every modelled attribute."
  value       = { for name, r in terraform_data.placement : name => r.output }
}
