output "placements" {
  description = "Normalised placement per service (optional attributes filled with their defaults)."
  value       = local.placements
}

output "by_provider" {
  description = "provider => { service => placement }."
  value = {
    for provider in keys(local.supported_regions) : provider => {
      for name, p in local.placements : name => p if p.provider == provider
    }
  }
}

output "supported_regions" {
  description = "provider => regions with a cluster."
  value       = local.supported_regions
}
