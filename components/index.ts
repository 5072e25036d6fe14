/**
 * rollgate's Pulumi components. Every component here is also a component package type
 * (`rollgate:index:<ClassName>`) usable from Python, Go, C#, Java and YAML (see PulumiPlugin.yaml).
 */
export * from "./blue-green-target-groups.js";
export * from "./weighted-routing.js";
export * from "./health-gates.js";
export * from "./step-controller.js";
export * from "./ecs-slots.js";
export * from "./progressive-service.js";
export * from "./flag-release.js";
export { renderDashboard, type DashboardParams } from "./dashboard.js";
export { HEALTH_GATE, checkReleaseAllowed, readServicePolicy, withHealthGate } from "./service-policy.js";
export { ArgsError } from "./internal.js";
export { ALB, CLOUDWATCH, LAMBDA, checkRuleConditions, environmentBytes, percentileSamplesNeeded, scheduleExpressionProblem, type RuleConditionSpec } from "./aws-limits.js";
export * from "./kubernetes/index.js";
