# SWEN policy gate (Rego v1). Decides whether a placement change may be applied without a person.
#
# Input (see docs/POLICY.md):
#   {
#     "decision": {"service": "service-2", "stateful": false, "confidence": 0.91, "emergency": false,
#                  "from": {"provider": "aws", "region": "us-east-1"},
#                  "to": {"provider": "alibaba", "region": "ap-southeast-1"}},
#     "cost_delta_pct": -12.5,
#     "plan": {"resource_changes": [{"address": "...", "type": "...", "actions": ["delete", "create"],
#                                    "stateful": false, "service": "service-2"}]}
#   }
#
# Output: data.swen.gate.result = {"outcome": "auto_approve" | "manual_review" | "deny",
#                                  "reasons": [...], "override": bool}
# Every reason starts with a stable code ("cost_delta_too_high: ..."). For conftest, `deny` holds the
# deny reasons and `warn` the manual-review reasons.
package swen.gate

max_auto_cost_delta_pct := 5

min_auto_confidence := 0.85

name_pattern := `^[a-z][a-z0-9-]{0,62}$`

# Resource types that hold data. Keep in sync with swen.pipeline.plan_summary.STATEFUL_RESOURCE_TYPES.
stateful_types := {
	"aws_db_instance",
	"aws_db_cluster_snapshot",
	"aws_rds_cluster",
	"aws_rds_cluster_instance",
	"aws_ebs_volume",
	"aws_volume_attachment",
	"aws_efs_file_system",
	"aws_dynamodb_table",
	"aws_s3_bucket",
	"aws_docdb_cluster",
	"aws_neptune_cluster",
	"aws_redshift_cluster",
	"aws_opensearch_domain",
	"alicloud_db_instance",
	"alicloud_disk",
	"alicloud_ecs_disk",
	"alicloud_kvstore_instance",
	"alicloud_polardb_cluster",
	"alicloud_mongodb_instance",
	"alicloud_nas_file_system",
	"alicloud_oss_bucket",
}

stateful_type_prefixes := {"aws_elasticache_", "aws_memorydb_"}

# ---------------------------------------------------------------------------------------------------
# Shape of the input. Anything malformed is denied before any other rule is trusted.

decision := input.decision

changes := input.plan.resource_changes

malformed contains "malformed_input: input is not an object" if not is_object(input)

malformed contains "malformed_input: decision is missing or not an object" if not is_object(decision)

malformed contains "malformed_input: plan.resource_changes is missing or not a list" if not is_array(changes)

malformed contains "malformed_input: cost_delta_pct is missing or not a number" if not is_number(input.cost_delta_pct)

malformed contains "malformed_input: decision.service is missing or not a string" if {
	is_object(decision)
	not is_string(decision.service)
}

malformed contains msg if {
	is_object(decision)
	some field in ["stateful", "emergency"]
	not is_boolean(decision[field])
	msg := sprintf("malformed_input: decision.%s is missing or not a boolean", [field])
}

malformed contains "malformed_input: decision.confidence is missing or not a number in [0, 1]" if {
	is_object(decision)
	not valid_confidence
}

valid_confidence if {
	is_number(decision.confidence)
	decision.confidence >= 0
	decision.confidence <= 1
}

malformed contains msg if {
	is_object(decision)
	some side in ["from", "to"]
	not valid_placement(decision[side])
	msg := sprintf("malformed_input: decision.%s must be {provider: string, region: string}", [side])
}

valid_placement(p) if {
	is_object(p)
	is_string(p.provider)
	is_string(p.region)
}

malformed contains msg if {
	is_array(changes)
	some i, rc in changes
	not valid_change(rc)
	msg := sprintf("malformed_input: plan.resource_changes[%d] needs address, type (strings) and actions (list)", [i])
}

valid_change(rc) if {
	is_object(rc)
	is_string(rc.address)
	is_string(rc.type)
	is_array(rc.actions)
	count(rc.actions) > 0
	every a in rc.actions {
		is_string(a)
	}
}

well_formed if count(malformed) == 0

# ---------------------------------------------------------------------------------------------------
# Names: the service and the placements must be DNS labels (they reach branches, files and HCL).

invalid_names contains sprintf("invalid_name: service name %s is not a DNS label", [decision.service]) if {
	is_string(decision.service)
	not regex.match(name_pattern, decision.service)
}

invalid_names contains msg if {
	some side in ["from", "to"]
	some field in ["provider", "region"]
	value := decision[side][field]
	is_string(value)
	not regex.match(name_pattern, value)
	msg := sprintf("invalid_name: decision.%s.%s %s is not a DNS label", [side, field, value])
}

invalid_names contains msg if {
	some rc in changes
	is_string(rc.service)
	not regex.match(name_pattern, rc.service)
	msg := sprintf("invalid_name: resource %s belongs to an invalid service name %s", [rc.address, rc.service])
}

# ---------------------------------------------------------------------------------------------------
# Facts about the plan.

action(rc) := "replace" if {
	"delete" in rc.actions
	"create" in rc.actions
}

action(rc) := rc.actions[0] if count(rc.actions) == 1

destructive(rc) if action(rc) in {"delete", "replace"}

changed(rc) if not action(rc) in {"no-op", "read"}

stateful_resource(rc) if rc.type in stateful_types

stateful_resource(rc) if {
	some prefix in stateful_type_prefixes
	startswith(rc.type, prefix)
}

# The sim root's terraform_data carries the service's stateful flag (summarised as rc.stateful).
stateful_resource(rc) if rc.stateful == true

belongs_to_service(rc) if rc.service == decision.service

stateful_changes := {rc.address | some rc in changes; changed(rc); stateful_resource(rc)}

touches_stateful if decision.stateful == true

touches_stateful if count(stateful_changes) > 0

# ---------------------------------------------------------------------------------------------------
# Deny: never applied, whatever anyone says.

deny_reasons contains msg if {
	some msg in malformed
}

deny_reasons contains msg if {
	well_formed
	some msg in invalid_names
}

deny_reasons contains msg if {
	well_formed
	some rc in changes
	action(rc) == "delete"
	stateful_resource(rc)
	msg := sprintf("stateful_delete: plan deletes stateful resource %s (%s) without replacing it", [rc.address, rc.type])
}

deny_reasons contains msg if {
	well_formed
	some rc in changes
	destructive(rc)
	not belongs_to_service(rc)
	msg := sprintf("deletes_beyond_move: plan would %s %s, which is not part of %s's placement", [action(rc), rc.address, decision.service])
}

deny_reasons contains msg if {
	well_formed
	service_changes := [rc | some rc in changes; belongs_to_service(rc); changed(rc)]
	count(service_changes) > 0
	every rc in service_changes {
		action(rc) == "delete"
	}
	msg := sprintf("service_removed: plan only deletes %s's resources and places it nowhere", [decision.service])
}

# ---------------------------------------------------------------------------------------------------
# Manual review: the cost and confidence rules (an emergency of a stateless service may waive them).

cost_reasons contains msg if {
	input.cost_delta_pct >= max_auto_cost_delta_pct
	msg := sprintf("cost_delta_too_high: cost delta %+.2f %% is not below %v %%", [input.cost_delta_pct, max_auto_cost_delta_pct])
}

confidence_reasons contains msg if {
	decision.confidence <= min_auto_confidence
	msg := sprintf("confidence_too_low: confidence %.3f is not above %v", [decision.confidence, min_auto_confidence])
}

waivable_reasons := cost_reasons | confidence_reasons

override if {
	well_formed
	decision.emergency == true
	not touches_stateful
	count(waivable_reasons) > 0
}

stateful_reasons contains sprintf("stateful_service: %s is stateful; a person must approve its move", [decision.service]) if {
	decision.stateful == true
}

stateful_reasons contains msg if {
	some address in stateful_changes
	msg := sprintf("stateful_resource: plan changes stateful resource %s", [address])
}

stateful_reasons contains "emergency_not_overridable: stateful changes always need a person, even in an emergency" if {
	decision.emergency == true
	touches_stateful
}

scope_reasons contains msg if {
	some rc in changes
	changed(rc)
	not destructive(rc)
	not belongs_to_service(rc)
	msg := sprintf("changes_beyond_move: plan would %s %s, outside %s's placement", [action(rc), rc.address, decision.service])
}

scope_reasons contains sprintf("empty_plan: plan changes nothing for %s", [decision.service]) if {
	count([rc | some rc in changes; changed(rc)]) == 0
}

review_reasons contains msg if {
	not override
	some msg in waivable_reasons
}

review_reasons contains msg if {
	some msg in stateful_reasons
}

review_reasons contains msg if {
	some msg in scope_reasons
}

override_reasons contains msg if {
	override
	waived := concat("; ", sort([split(r, ":")[0] | some r in waivable_reasons]))
	# concat, not sprintf: regopy quotes a computed string passed to sprintf's %s.
	msg := concat("", ["emergency_override: emergency move of stateless ", decision.service, " waives ", waived])
}

approve_reasons contains sprintf("cost_delta_ok: cost delta %+.2f %% is below %v %%", [input.cost_delta_pct, max_auto_cost_delta_pct]) if {
	count(cost_reasons) == 0
}

approve_reasons contains sprintf("confidence_ok: confidence %.3f is above %v", [decision.confidence, min_auto_confidence]) if {
	count(confidence_reasons) == 0
}

approve_reasons contains "stateless: no stateful service or stateful resource in the change" if not touches_stateful

# ---------------------------------------------------------------------------------------------------
# Result.

default result := {"outcome": "deny", "reasons": ["policy_error: the gate could not evaluate this input"], "override": false}

result := {"outcome": "deny", "reasons": sort(deny_reasons), "override": false} if count(deny_reasons) > 0

result := {"outcome": "manual_review", "reasons": sort(review_reasons), "override": false} if {
	count(deny_reasons) == 0
	count(review_reasons) > 0
}

result := {"outcome": "auto_approve", "reasons": sort(override_reasons | approve_reasons), "override": override_flag} if {
	count(deny_reasons) == 0
	count(review_reasons) == 0
}

default override_flag := false

override_flag := true if override

# conftest: `conftest test --namespace swen.gate` fails on deny and prints warn.
deny contains msg if {
	some msg in deny_reasons
}

warn contains msg if {
	some msg in review_reasons
}
