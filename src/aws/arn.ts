/** ARN checks and the CloudWatch dimension values derived from ELB ARNs. */
import { ValidationError } from "./errors.js";

const PARTITION = "arn:aws(?:-[a-z]+)*";
export const TARGET_GROUP_ARN = new RegExp(`^${PARTITION}:elasticloadbalancing:[a-z0-9-]+:\\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$`);
export const LISTENER_ARN = new RegExp(`^${PARTITION}:elasticloadbalancing:[a-z0-9-]+:\\d{12}:listener/(?:app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}/[0-9a-f]{16}$`);
export const RULE_ARN = new RegExp(`^${PARTITION}:elasticloadbalancing:[a-z0-9-]+:\\d{12}:listener-rule/(?:app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}/[0-9a-f]{16}/[0-9a-f]{16}$`);
export const LOAD_BALANCER_ARN = new RegExp(`^${PARTITION}:elasticloadbalancing:[a-z0-9-]+:\\d{12}:loadbalancer/(?:app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$`);

export function checkArn(field: string, value: string, pattern: RegExp, what: string): string {
  if (!pattern.test(value)) throw new ValidationError(field, `"${value}" is not ${what} ARN`);
  return value;
}

/** `arn:...:targetgroup/name/id` -> `targetgroup/name/id`, the TargetGroup dimension of AWS/ApplicationELB. */
export function targetGroupDimension(arn: string): string {
  const i = arn.indexOf(":targetgroup/");
  if (i < 0) throw new ValidationError("targetGroupArn", `"${arn}" is not a target group ARN`);
  return arn.slice(i + 1);
}

/** `arn:...:loadbalancer/app/name/id` -> `app/name/id`, the LoadBalancer dimension. */
export function loadBalancerDimension(arn: string): string {
  const i = arn.indexOf(":loadbalancer/");
  if (i < 0) throw new ValidationError("loadBalancerArn", `"${arn}" is not a load balancer ARN`);
  return arn.slice(i + ":loadbalancer/".length);
}
