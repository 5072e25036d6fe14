import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch/index.js";
import type * as inputs from "@pulumi/aws/types/input.js";
import { SLOTS, type Slot } from "./blue-green-target-groups.js";
import { checkAlarmName, checkAlarmPeriod, checkCompositeRule, checkEvaluationWindow, checkMetricQueries, type MetricQueryShape, percentileSamplesNeeded } from "./aws-limits.js";
import { alarmNameFromArn, ArgsError, check, checked, checkInteger, checkNumber, loadBalancerArnSuffix, plain, withTags } from "./internal.js";

export interface HealthGatesArgs {
  /** ARN of the Application Load Balancer in front of the slots (its suffix is the `LoadBalancer` dimension). */
  loadBalancerArn: pulumi.Input<string>;
  /** `arnSuffix` of the blue target group (the `TargetGroup` dimension). */
  blueTargetGroupArnSuffix: pulumi.Input<string>;
  /** `arnSuffix` of the green target group. */
  greenTargetGroupArnSuffix: pulumi.Input<string>;
  /**
   * Prefix of every alarm name. Alarm names are fixed (not auto-named) because the policy's
   * `health` gate and the composite alarm refer to them by name; they must be unique in the account
   * and region.
   * @default "<name>-<stack>"
   */
  alarmNamePrefix?: pulumi.Input<string>;
  /**
   * Period of the per-slot and comparison alarms, in seconds (60 or a multiple of 60).
   * @default 60
   */
  periodSeconds?: pulumi.Input<number>;
  /**
   * Period of the per-slot latency (percentile) alarms, in seconds (a multiple of 60). CloudWatch
   * evaluates a percentile only over at least 10 / (1 - p) samples in a period (1,000 for p99) and
   * this alarm ignores periods with fewer, so the period must be long enough for the canary's
   * traffic: at minRequestsPerPeriod requests per periodSeconds it must reach that many samples.
   * A period too short for that is allowed (more traffic than the minimum fills it) but warned
   * about at preview, with the period that would do.
   * @default periodSeconds
   */
  latencyPeriodSeconds?: pulumi.Input<number>;
  /**
   * Periods each per-slot alarm looks at.
   * @default 5
   */
  evaluationPeriods?: pulumi.Input<number>;
  /**
   * Breaching periods (of evaluationPeriods) that put an alarm in ALARM.
   * @default 3
   */
  datapointsToAlarm?: pulumi.Input<number>;
  /**
   * Per-slot alarm: share of failed requests (target 5XX + connection errors) above which a slot is in ALARM, in percent.
   * @default 5
   */
  errorRateThresholdPercent?: pulumi.Input<number>;
  /**
   * Per-slot alarm: the latency percentile compared with latencyThresholdMs (50..99.9).
   * @default 99
   */
  latencyPercentile?: pulumi.Input<number>;
  /**
   * Per-slot alarm: latency (at latencyPercentile) above which a slot is in ALARM, in milliseconds.
   * @default 1000
   */
  latencyThresholdMs?: pulumi.Input<number>;
  /**
   * Per-slot alarm: unhealthy targets at or above which a slot is in ALARM.
   * @default 1
   */
  unhealthyHostThreshold?: pulumi.Input<number>;
  /**
   * Comparison alarm: percentage points by which the two slots' error rates may differ.
   * @default 2
   */
  comparisonThresholdPercent?: pulumi.Input<number>;
  /**
   * Requests a slot needs in a period before its error rate counts; fewer gives no data point
   * (INSUFFICIENT_DATA: the gate holds, it never passes on too few samples).
   * @default 10
   */
  minRequestsPerPeriod?: pulumi.Input<number>;
  /**
   * Availability SLO in percent (e.g. 99.9). When set, multi-window burn-rate alarms are created
   * (14.4x over 1h and 5m, 6x over 6h and 30m); they freeze rollouts, they are not gates.
   * @default undefined (no burn-rate alarms)
   */
  sloTarget?: pulumi.Input<number>;
  /**
   * ARNs of CloudWatch alarms of your own (business KPIs) to add to the health gate and the
   * composite alarm.
   * @default []
   */
  additionalAlarmArns?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Alarm actions (e.g. SNS topic ARNs of your on-call) of the composite `health` alarm and the
   * burn-rate composites: who is paged when the service is unhealthy. Also sent on return to OK.
   * @default [] (nobody is paged; a preview warning says so)
   */
  alarmActions?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Extra tags.
   * @default {}
   */
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The burn-rate windows of the multi-window, multi-burn-rate method (Google SRE workbook). */
export const BURN_WINDOWS = [
  { id: "fast", burnRate: 14.4, longSeconds: 3600, shortSeconds: 300 },
  { id: "slow", burnRate: 6, longSeconds: 21600, shortSeconds: 1800 },
] as const;

/** Plain-value checks of HealthGatesArgs; throws ArgsError naming the field. */
export function validateHealthGatesArgs(args: HealthGatesArgs): void {
  const c = "HealthGates";
  for (const f of ["loadBalancerArn", "blueTargetGroupArnSuffix", "greenTargetGroupArnSuffix"] as const) {
    if (args[f] === undefined) throw new ArgsError(`${c}: ${f} is required`);
  }
  const lbArn = plain(args.loadBalancerArn);
  if (lbArn !== undefined) {
    try {
      loadBalancerArnSuffix(lbArn);
    } catch (e) {
      throw new ArgsError(`${c}: ${(e as Error).message}`);
    }
  }
  const prefix = plain(args.alarmNamePrefix);
  if (prefix !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(prefix)) {
    throw new ArgsError(`${c}: alarmNamePrefix must be letters, digits, ".", "_" or "-" (up to 200), got ${JSON.stringify(prefix)}`);
  }
  const period = plain(args.periodSeconds);
  if (args.periodSeconds !== undefined && period === undefined) throw new ArgsError(`${c}: periodSeconds must be a plain number (it shapes the alarms' metric queries)`);
  checkAlarmPeriod(c, "periodSeconds", period, { minuteMetrics: true });
  checkInteger(c, "evaluationPeriods", plain(args.evaluationPeriods), 1, 1440);
  checkInteger(c, "datapointsToAlarm", plain(args.datapointsToAlarm), 1, 1440);
  const ep = plain(args.evaluationPeriods) ?? 5;
  const dp = plain(args.datapointsToAlarm) ?? Math.min(3, ep);
  if (dp > ep) throw new ArgsError(`${c}: datapointsToAlarm (${dp}) must not exceed evaluationPeriods (${ep})`);
  checkEvaluationWindow(c, "evaluationPeriods x periodSeconds", period ?? 60, ep);
  const latencyPeriod = plain(args.latencyPeriodSeconds);
  if (args.latencyPeriodSeconds !== undefined && latencyPeriod === undefined) throw new ArgsError(`${c}: latencyPeriodSeconds must be a plain number`);
  checkAlarmPeriod(c, "latencyPeriodSeconds", latencyPeriod, { minuteMetrics: true });
  if (latencyPeriod !== undefined) checkEvaluationWindow(c, "evaluationPeriods x latencyPeriodSeconds", latencyPeriod, ep);
  checkNumber(c, "errorRateThresholdPercent", plain(args.errorRateThresholdPercent), 0, 100, " (percent)");
  checkNumber(c, "latencyPercentile", plain(args.latencyPercentile), 49.99, 99.95);
  checkNumber(c, "latencyThresholdMs", plain(args.latencyThresholdMs), 0, 3_600_000, " (milliseconds)");
  checkInteger(c, "unhealthyHostThreshold", plain(args.unhealthyHostThreshold), 1, 1000);
  checkNumber(c, "comparisonThresholdPercent", plain(args.comparisonThresholdPercent), 0, 100, " (percentage points)");
  checkInteger(c, "minRequestsPerPeriod", plain(args.minRequestsPerPeriod), 0, 1_000_000);
  const slo = plain(args.sloTarget);
  if (slo !== undefined && (typeof slo !== "number" || !(slo > 0 && slo < 100))) {
    throw new ArgsError(`${c}: sloTarget is an availability in percent, above 0 and below 100 (e.g. 99.9), got ${JSON.stringify(slo)}`);
  }
  if (slo !== undefined && BURN_WINDOWS[0].burnRate * (100 - slo) >= 100) {
    throw new ArgsError(`${c}: sloTarget ${slo} is too low for a 14.4x burn-rate alarm (14.4 x ${100 - slo} % >= 100 %); use 93.1 or more`);
  }
  const names = plain(args.alarmNamePrefix);
  if (names !== undefined) {
    // The longest name the component makes: "<prefix>-green-unhealthy-hosts".
    checkAlarmName(c, "alarmNamePrefix", `${names}-green-unhealthy-hosts`);
  }
  const actions = plain(args.alarmActions);
  actions?.forEach((a, i) => {
    const v = plain(a);
    if (v !== undefined && !/^arn:aws[a-z-]*:(sns|lambda|ssm|autoscaling|ec2|swf|automate|ssm-incidents):/.test(v)) {
      throw new ArgsError(`${c}: alarmActions[${i}] must be an alarm action ARN (usually an SNS topic, arn:aws:sns:<region>:<account>:<topic>), got ${JSON.stringify(v)}`);
    }
  });
  const extra = plain(args.additionalAlarmArns);
  if (extra !== undefined) {
    extra.forEach((arn, i) => {
      const a = plain(arn);
      if (a !== undefined) alarmNameFromArn(a, `${c}: additionalAlarmArns[${i}]`);
    });
  }
}

/**
 * What is valid but cannot protect as configured: a latency period too short for the percentile
 * at the minimum traffic the gates accept, and alarms that page nobody.
 */
export function healthGatesWarnings(args: HealthGatesArgs): string[] {
  const c = "HealthGates";
  const out: string[] = [];
  const period = plain(args.periodSeconds) ?? 60;
  const latencyPeriod = plain(args.latencyPeriodSeconds) ?? period;
  const pct = plain(args.latencyPercentile) ?? 99;
  const min = plain(args.minRequestsPerPeriod) ?? 10;
  if (typeof pct === "number" && typeof min === "number" && min > 0) {
    const samples = Math.floor((min * latencyPeriod) / period);
    const needed = percentileSamplesNeeded(pct);
    if (samples < needed) {
      out.push(
        `${c}: latencyPeriodSeconds ${latencyPeriod}: a slot at minRequestsPerPeriod (${min} per ${period} s) gets ${samples} samples per latency period, and CloudWatch evaluates p${pct} only with ${needed} or more (10 / (1 - p)); below that traffic the latency alarm cannot fire. Set latencyPeriodSeconds to ${latencyPeriodFor(pct, min, period)} (or raise minRequestsPerPeriod, or lower latencyPercentile) if the canary may see so little traffic`,
      );
    }
  }
  const actions = plain(args.alarmActions);
  if (args.alarmActions === undefined || (actions !== undefined && actions.length === 0)) {
    out.push(`${c}: alarmActions is empty, so the composite health alarm pages nobody (the controller still acts on the gate alarms); pass your on-call SNS topic ARNs`);
  }
  return out;
}

/**
 * The shortest latency alarm period (a multiple of 60, at least `period`) in which a slot at
 * `minRequests` requests per `period` reaches the samples CloudWatch needs for percentile `pct`.
 */
export function latencyPeriodFor(pct: number, minRequests: number, period = 60): number {
  if (minRequests <= 0) return period;
  const needed = percentileSamplesNeeded(pct);
  const seconds = Math.ceil((needed * period) / minRequests / 60) * 60;
  return Math.max(period, seconds);
}

type Metric = inputs.cloudwatch.MetricAlarmMetricQuery;

/** A metric query of an ALB target-group metric. */
function tgMetric(id: string, metricName: string, stat: string, period: number, lbDim: string, tgDim: string): Metric {
  return {
    id,
    returnData: false,
    metric: {
      namespace: "AWS/ApplicationELB",
      metricName,
      stat,
      period,
      dimensions: { LoadBalancer: lbDim, TargetGroup: tgDim },
    },
  };
}

/**
 * Failed-request share of one target group in percent, only for periods with at least
 * minRequests requests: IF without an else drops the data point, so too few requests read as
 * missing data, never as healthy.
 */
function errorRateQueries(p: string, period: number, lbDim: string, tgDim: string, minRequests: number): { queries: Metric[]; expression: string } {
  const guard = minRequests > 0 ? `${p}req >= ${minRequests}` : `${p}req > 0`;
  return {
    queries: [
      tgMetric(`${p}req`, "RequestCount", "Sum", period, lbDim, tgDim),
      tgMetric(`${p}err`, "HTTPCode_Target_5XX_Count", "Sum", period, lbDim, tgDim),
      tgMetric(`${p}conn`, "TargetConnectionErrorCount", "Sum", period, lbDim, tgDim),
    ],
    expression: `IF(${guard}, 100 * (FILL(${p}err, 0) + FILL(${p}conn, 0)) / ${p}req)`,
  };
}

/**
 * The canary-vs-stable gap, only where both slots have enough requests. Metric math treats a value
 * missing from one operand as 0, so a bare `ABS(b_rate - g_rate)` is the stable slot's own failure
 * rate whenever the canary has too few requests, and a stable slot above the threshold would roll
 * back a canary with no data. The guard reads the request counts (FILLed, so a missing count is
 * 0 and fails the guard) and IF without an else drops the point: no data, which holds the gate.
 */
export function comparisonExpression(minRequests: number): string {
  const floor = Math.max(1, minRequests);
  return `IF(FILL(b_req, 0) >= ${floor} AND FILL(g_req, 0) >= ${floor}, ABS(b_rate - g_rate))`;
}

/**
 * CloudWatch alarms that gate a rollout, per slot (the canary slot changes with every release, so
 * both slots are watched and the gate lists both), a slot-symmetric comparison alarm, optional
 * error-budget burn-rate alarms, and a composite alarm over all of them.
 */
export class HealthGates extends pulumi.ComponentResource {
  /** Names of the alarms that form the policy's `health` gate (per-slot, comparison, and yours). */
  public readonly gateAlarmNames: pulumi.Output<string[]>;
  /** ARNs of the same alarms, for the controller's alarm-state EventBridge rule. */
  public readonly gateAlarmArns: pulumi.Output<string[]>;
  /** Names of the burn-rate composite alarms whose ALARM freezes every rollout (empty without sloTarget). */
  public readonly freezeAlarmNames: pulumi.Output<string[]>;
  /** The composite alarm over everything: one name to page on and to show on the dashboard. */
  public readonly healthAlarmName: pulumi.Output<string>;
  public readonly healthAlarmArn: pulumi.Output<string>;

  constructor(name: string, args: HealthGatesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:HealthGates", name, {}, opts);
    check(this, () => validateHealthGatesArgs(args));

    const prefix = plain(args.alarmNamePrefix) ?? (args.alarmNamePrefix === undefined ? `${name}-${pulumi.getStack()}` : undefined);
    const alarmName = (suffix: string): pulumi.Input<string> =>
      prefix !== undefined ? `${prefix}-${suffix}` : pulumi.interpolate`${args.alarmNamePrefix!}-${suffix}`;
    const period = plain(args.periodSeconds) ?? 60;
    const evaluationPeriods = args.evaluationPeriods ?? 5;
    const datapointsToAlarm = args.datapointsToAlarm ?? pulumi.output(evaluationPeriods).apply((e) => Math.min(3, e));
    const minRequests = args.minRequestsPerPeriod ?? 10;
    const latencyPeriod = plain(args.latencyPeriodSeconds) ?? period;
    for (const w of healthGatesWarnings(args)) pulumi.log.warn(w, this);
    const lbDim = pulumi.output(args.loadBalancerArn).apply((arn) => checked(this, () => loadBalancerArnSuffix(arn)));
    const tgDims: Record<Slot, pulumi.Input<string>> = { blue: args.blueTargetGroupArnSuffix, green: args.greenTargetGroupArnSuffix };
    const tags = withTags(args.tags, {});
    const childOpts = { parent: this };

    const gateAlarms: cloudwatch.MetricAlarm[] = [];
    for (const slot of SLOTS) {
      const slotTags = withTags(args.tags, { "rollgate:slot": slot });
      gateAlarms.push(
        new cloudwatch.MetricAlarm(
          `${name}-${slot}-5xx-rate`,
          {
            name: alarmName(`${slot}-5xx-rate`),
            alarmDescription: `rollgate ${slot} slot: failed-request share (target 5XX + connection errors) above threshold. Missing data (idle slot, too few requests) is INSUFFICIENT_DATA, which holds the gate.`,
            metricQueries: pulumi.all([lbDim, tgDims[slot], minRequests]).apply(([lbd, tgd, min]) => {
              const r = errorRateQueries("", period, lbd, tgd, min);
              const queries = [...r.queries, { id: "rate", expression: r.expression, label: `${slot} failed-request %`, returnData: true }];
              return checked(this, () => (checkMetricQueries("HealthGates", `${slot}-5xx-rate`, queries as MetricQueryShape[]), queries));
            }),
            comparisonOperator: "GreaterThanThreshold",
            threshold: args.errorRateThresholdPercent ?? 5,
            evaluationPeriods,
            datapointsToAlarm,
            treatMissingData: "missing",
            tags: slotTags,
          },
          childOpts,
        ),
        new cloudwatch.MetricAlarm(
          `${name}-${slot}-latency`,
          {
            name: alarmName(`${slot}-latency`),
            alarmDescription: `rollgate ${slot} slot: target response time percentile above threshold. Low sample counts are ignored (the state stays as it was) so a handful of slow requests cannot flip it.`,
            namespace: "AWS/ApplicationELB",
            metricName: "TargetResponseTime",
            dimensions: { LoadBalancer: lbDim, TargetGroup: tgDims[slot] },
            extendedStatistic: pulumi.output(args.latencyPercentile ?? 99).apply((p) => `p${p}`),
            period: latencyPeriod,
            comparisonOperator: "GreaterThanThreshold",
            // TargetResponseTime is in seconds.
            threshold: pulumi.output(args.latencyThresholdMs ?? 1000).apply((ms) => ms / 1000),
            evaluationPeriods,
            datapointsToAlarm,
            evaluateLowSampleCountPercentiles: "ignore",
            treatMissingData: "missing",
            tags: slotTags,
          },
          childOpts,
        ),
        new cloudwatch.MetricAlarm(
          `${name}-${slot}-unhealthy-hosts`,
          {
            name: alarmName(`${slot}-unhealthy-hosts`),
            alarmDescription: `rollgate ${slot} slot: unhealthy targets at or above threshold.`,
            namespace: "AWS/ApplicationELB",
            metricName: "UnHealthyHostCount",
            dimensions: { LoadBalancer: lbDim, TargetGroup: tgDims[slot] },
            statistic: "Maximum",
            period,
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            threshold: args.unhealthyHostThreshold ?? 1,
            evaluationPeriods,
            datapointsToAlarm,
            treatMissingData: "missing",
            tags: slotTags,
          },
          childOpts,
        ),
      );
    }

    gateAlarms.push(
      new cloudwatch.MetricAlarm(
        `${name}-canary-vs-stable`,
        {
          name: alarmName("canary-vs-stable"),
          alarmDescription:
            "rollgate: the two slots' failed-request shares differ by more than the threshold (percentage points). Symmetric, so it does not depend on which slot is the canary; it has data only while both slots serve traffic.",
          metricQueries: pulumi.all([lbDim, tgDims.blue, tgDims.green, minRequests]).apply(([lbd, b, g, min]) => {
            const rb = errorRateQueries("b_", period, lbd, b, min);
            const rg = errorRateQueries("g_", period, lbd, g, min);
            const queries = [
              ...rb.queries,
              ...rg.queries,
              { id: "b_rate", expression: rb.expression, label: "blue failed-request %", returnData: false },
              { id: "g_rate", expression: rg.expression, label: "green failed-request %", returnData: false },
              { id: "gap", expression: comparisonExpression(min), label: "failed-request % gap between slots", returnData: true },
            ];
            return checked(this, () => (checkMetricQueries("HealthGates", "canary-vs-stable", queries as MetricQueryShape[]), queries));
          }),
          comparisonOperator: "GreaterThanThreshold",
          threshold: args.comparisonThresholdPercent ?? 2,
          evaluationPeriods,
          datapointsToAlarm,
          treatMissingData: "missing",
          tags,
        },
        childOpts,
      ),
    );

    const actions = args.alarmActions ?? [];
    const freeze: cloudwatch.CompositeAlarm[] = [];
    if (args.sloTarget !== undefined) {
      const slo = args.sloTarget;
      for (const w of BURN_WINDOWS) {
        const windowAlarm = (seconds: number) => {
          const label = seconds >= 3600 ? `${seconds / 3600}h` : `${seconds / 60}m`;
          return new cloudwatch.MetricAlarm(
            `${name}-burn-${w.id}-${label}`,
            {
              name: alarmName(`burn-${w.id}-${label}`),
              alarmDescription: `rollgate: error budget burning faster than ${w.burnRate}x over ${label} (both slots together).`,
              metricQueries: pulumi.all([lbDim, tgDims.blue, tgDims.green]).apply(([lbd, b, g]) => [
                tgMetric("b_req", "RequestCount", "Sum", seconds, lbd, b),
                tgMetric("g_req", "RequestCount", "Sum", seconds, lbd, g),
                tgMetric("b_err", "HTTPCode_Target_5XX_Count", "Sum", seconds, lbd, b),
                tgMetric("g_err", "HTTPCode_Target_5XX_Count", "Sum", seconds, lbd, g),
                tgMetric("b_conn", "TargetConnectionErrorCount", "Sum", seconds, lbd, b),
                tgMetric("g_conn", "TargetConnectionErrorCount", "Sum", seconds, lbd, g),
                {
                  id: "errors_pct",
                  expression:
                    "IF(FILL(b_req, 0) + FILL(g_req, 0) > 0, 100 * (FILL(b_err, 0) + FILL(g_err, 0) + FILL(b_conn, 0) + FILL(g_conn, 0)) / (FILL(b_req, 0) + FILL(g_req, 0)))",
                  label: "failed-request % (both slots)",
                  returnData: true,
                },
              ]),
              comparisonOperator: "GreaterThanThreshold",
              // burn rate x error budget: 14.4 x (100 - 99.9) = 1.44 % failed requests.
              threshold: pulumi.output(slo).apply((s) => roundPct(w.burnRate * (100 - s))),
              evaluationPeriods: 1,
              // No requests burn no budget; these alarms freeze rollouts, they are not gates.
              treatMissingData: "notBreaching",
              tags,
            },
            childOpts,
          );
        };
        const long = windowAlarm(w.longSeconds);
        const short = windowAlarm(w.shortSeconds);
        freeze.push(
          new cloudwatch.CompositeAlarm(
            `${name}-burn-${w.id}`,
            {
              alarmName: alarmName(`burn-${w.id}`),
              alarmDescription: `rollgate: error budget burn ${w.burnRate}x over both windows. ALARM freezes every rollout of this service.`,
              alarmRule: pulumi.interpolate`ALARM("${long.name}") AND ALARM("${short.name}")`,
              alarmActions: actions,
              okActions: actions,
              tags,
            },
            childOpts,
          ),
        );
      }
    }

    const extraArns = pulumi.output(args.additionalAlarmArns ?? []);
    const extraNames = extraArns.apply((arns) => arns.map((a, i) => checked(this, () => alarmNameFromArn(a, `HealthGates: additionalAlarmArns[${i}]`))));
    const ownNames = pulumi.all(gateAlarms.map((a) => a.name));
    const freezeNames = pulumi.all(freeze.map((a) => a.alarmName));
    const health = new cloudwatch.CompositeAlarm(
      `${name}-health`,
      {
        alarmName: alarmName("health"),
        alarmDescription: "rollgate: any health gate alarm, burn-rate alarm or KPI alarm of this service is in ALARM.",
        alarmRule: pulumi.all([ownNames, freezeNames, extraNames]).apply(([own, fr, ex]) =>
          checked(this, () => {
            [...own, ...fr].forEach((n) => checkAlarmName("HealthGates", "alarmNamePrefix", n));
            return checkCompositeRule("HealthGates", "additionalAlarmArns", [...own, ...fr, ...ex]);
          }),
        ),
        alarmActions: actions,
        okActions: actions,
        tags,
      },
      childOpts,
    );

    this.gateAlarmNames = pulumi.all([ownNames, extraNames]).apply(([own, ex]) => [...own, ...ex]);
    this.gateAlarmArns = pulumi.all([pulumi.all(gateAlarms.map((a) => a.arn)), extraArns]).apply(([own, ex]) => [...own, ...ex]);
    this.freezeAlarmNames = freezeNames;
    this.healthAlarmName = health.alarmName;
    this.healthAlarmArn = health.arn;
    this.registerOutputs({
      gateAlarmNames: this.gateAlarmNames,
      gateAlarmArns: this.gateAlarmArns,
      freezeAlarmNames: this.freezeAlarmNames,
      healthAlarmName: this.healthAlarmName,
      healthAlarmArn: this.healthAlarmArn,
    });
  }
}

function roundPct(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
