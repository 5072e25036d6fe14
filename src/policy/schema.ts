/**
 * The RolloutPolicy as a user writes it (TypeScript, JSON or YAML). This schema is only the
 * *shape*: semantic checks (ascending steps, gate references, bands) live in resolve.ts so
 * that every problem is reported at once, and so the schema stays exportable as JSON Schema.
 */
import { z } from "zod";
import { accessSchema } from "./access.js";
import { DURATION_PATTERN } from "./duration.js";

const durationHelp = 'a duration such as "30s", "15m", "1h30m" or "2d"';

export const durationSchema = z
  .string({ error: `must be ${durationHelp}` })
  .regex(DURATION_PATTERN, { error: `must be ${durationHelp}` })
  .describe(`A duration: ${durationHelp}.`);

const percentSchema = z
  .number({ error: "must be a number (a traffic percentage, e.g. 5 or 0.1)" })
  .describe("Traffic percentage sent to the canary. ALB weights go down to 0.1 %.");

const missingDataSchema = z
  .enum(["hold", "rollback"], { error: 'must be "hold" or "rollback" (missing data never passes a gate)' })
  .describe('What missing data means for this gate. Default "hold": missing data never passes.');

const onTimeoutSchema = z
  .enum(["rollback", "pause"], { error: 'must be "rollback" or "pause"' })
  .describe('What happens when a step is held longer than maxHold. Default "pause".');

const gateName = z
  .string({ error: "must be a string" })
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
    error: "must be lowercase letters, digits and dashes (up to 63), starting with a letter or digit",
  });

/** A band as a share of the baseline rate: "30%" rolls back a 2 % baseline at 2.6 % (0.6 points). */
const relativeBandSchema = z
  .string()
  .regex(/^(?:\d+(?:\.\d+)?|\.\d+)%$/, { error: 'must be a number of points, or a share of the baseline rate such as "30%"' });

/** Fields shared by every canary-versus-baseline comparison gate. */
const comparisonFields = {
  name: gateName.optional().describe("Gate name, unique in the policy; steps refer to gates by it."),
  holdBand: z
    .union([z.number({ error: "must be a number" }).nonnegative({ error: 'must be 0 or more (or a share of the baseline rate such as "10%")' }), relativeBandSchema], { error: 'must be 0 or more (points, or ms for percentile latency), or a share of the baseline rate such as "10%"' })
    .optional()
    .describe(
      'Hold (do not advance) when the canary is worse than the baseline by more than this: a number (percentage points; ms for percentile latency), or "N%", a share of the baseline rate (count gates only; never below holdBandMin).',
    ),
  rollbackBand: z
    .union([z.number({ error: "must be a number" }).positive({ error: 'must be greater than 0 (or a share of the baseline rate such as "30%")' }), relativeBandSchema], { error: 'must be greater than 0 (points, or ms for percentile latency), or a share of the baseline rate such as "30%"' })
    .optional()
    .describe(
      'Roll back when the canary is worse than the baseline by more than this, with statistical confidence: a number (percentage points; ms for percentile latency), or "N%", a share of the baseline rate (count gates only; never below rollbackBandMin).',
    ),
  holdBandMin: z
    .number({ error: "must be a number of percentage points" })
    .nonnegative({ error: "must be 0 or more" })
    .optional()
    .describe('With a relative holdBand ("10%"): the band never goes below this many percentage points, or 5 times the baseline rate where that is smaller (so a floor set for a 0.1 % base cannot hide a 10x regression at 0.01 %). Default 0.'),
  rollbackBandMin: z
    .number({ error: "must be a number of percentage points" })
    .nonnegative({ error: "must be 0 or more" })
    .optional()
    .describe('With a relative rollbackBand ("30%"): the band never goes below this many percentage points, or 5 times the baseline rate where that is smaller (so a floor set for a 0.1 % base cannot hide a 10x regression at 0.01 %). Default 0.'),
  minSamples: z
    .number({ error: "must be a whole number" })
    .int({ error: "must be a whole number" })
    .nonnegative({ error: "must be 0 or more" })
    .optional()
    .describe("Minimum canary requests (or events' denominator) in the step before the gate may pass. Fewer holds, never passes."),
  onMissingData: missingDataSchema.optional(),
};

export const alarmGateSchema = z
  .strictObject({
    type: z.literal("alarm"),
    name: gateName.describe("Gate name, unique in the policy."),
    alarms: z
      .array(z.string({ error: "must be an alarm name" }).min(1, { error: "must not be empty" }), {
        error: "must be a list of CloudWatch alarm names",
      })
      .min(1, { error: "must name at least one CloudWatch alarm" })
      .describe("CloudWatch alarm names; any of them in ALARM rolls the release back."),
    onMissingData: missingDataSchema.optional(),
  })
  .describe("CloudWatch alarms as a gate: ALARM means roll back, INSUFFICIENT_DATA or an unknown alarm means onMissingData.");

export const errorRateGateSchema = z
  .strictObject({
    type: z.literal("errorRate"),
    ...comparisonFields,
  })
  .describe(
    "Canary vs baseline share of failed requests (target 5XX + connection errors over requests). Bands are in percentage points.",
  );

export const latencyGateSchema = z
  .strictObject({
    type: z.literal("latency"),
    ...comparisonFields,
    thresholdMs: z
      .number({ error: "must be a number of milliseconds" })
      .positive({ error: "must be greater than 0" })
      .optional()
      .describe(
        "Counts requests slower than this as 'slow' and compares the slow share (bands in percentage points). The strong, preferred form.",
      ),
    percentile: z
      .number({ error: "must be a number" })
      .gt(0, { error: "must be between 0 and 100" })
      .lt(100, { error: "must be between 0 and 100" })
      .optional()
      .describe("Without thresholdMs: compare per-minute percentile points (bands in ms). Weaker. Default 99."),
  })
  .describe("Canary vs baseline latency.");

export const metricGateSchema = z
  .strictObject({
    type: z.literal("metric"),
    ...comparisonFields,
    name: gateName.describe("Gate name, unique in the policy."),
    namespace: z.string({ error: "must be a CloudWatch namespace" }).min(1, { error: "must not be empty" }),
    events: z
      .string({ error: "must be a metric name" })
      .min(1, { error: "must not be empty" })
      .describe("Metric counting the events of interest (e.g. CheckoutFailed)."),
    total: z
      .string({ error: "must be a metric name" })
      .min(1, { error: "must not be empty" })
      .describe("Metric counting the trials the events are a share of (e.g. CheckoutAttempted)."),
    variantDimension: z
      .string({ error: "must be a dimension name" })
      .min(1, { error: "must not be empty" })
      .optional()
      .describe('Dimension whose value is the release version label. Default "Version".'),
    dimensions: z
      .record(z.string(), z.string({ error: "must be a string" }), { error: "must be a map of dimension name to value" })
      .optional()
      .describe("Extra fixed dimensions of both metrics."),
    worseWhen: z
      .enum(["higher", "lower"], { error: 'must be "higher" or "lower"' })
      .describe("Which direction is a regression: a higher failure share, or a lower conversion share."),
  })
  .describe("A business or custom count metric compared between canary and baseline. Bands in percentage points.");

export const gateSchema = z.discriminatedUnion("type", [
  alarmGateSchema,
  errorRateGateSchema,
  latencyGateSchema,
  metricGateSchema,
]);

const stepControls = {
  maxHold: durationSchema.optional().describe("Longest a step may be held by undecided gates. Default: policy timeouts.maxHold."),
  onTimeout: onTimeoutSchema.optional(),
};

export const canaryStepSchema = z
  .strictObject({
    percent: percentSchema.optional().describe("Traffic percentage for the canary. Exactly one of percent or ring."),
    ring: z
      .string({ error: "must be a ring name" })
      .optional()
      .describe("Send this audience ring (from the policy's rings) to the canary instead of a percentage. Ring steps come before percentage steps; earlier rings stay on the canary."),
    hold: durationSchema.describe("How long the step holds before it may advance (at least 1m)."),
    approval: z
      .boolean({ error: "must be true or false" })
      .optional()
      .describe("Pause for an operator's approval after the hold and gates pass. Default false."),
    gates: z
      .array(z.string({ error: "must be a gate name" }), { error: "must be a list of gate names" })
      .optional()
      .describe("Names of the policy's gates checked in this step. Default: all of them."),
    ...stepControls,
  })
  .describe("One canary step: a traffic percentage, held for an explicit duration, guarded by gates.");

const canaryStrategy = z.strictObject({
  type: z.literal("canary"),
  steps: z
    .array(canaryStepSchema, { error: "must be a list of steps" })
    .min(1, { error: "must have at least one step" })
    .describe("Steps in order; percentages strictly increase and stay below 100 (promotion follows the last step)."),
});

const shorthandCommon = {
  hold: durationSchema.describe("Hold of every generated step."),
  approval: z
    .boolean({ error: "must be true or false" })
    .optional()
    .describe("Ask for approval after the last generated step, before promotion. Default false."),
  ...stepControls,
};

const linearStrategy = z
  .strictObject({
    type: z.literal("linear"),
    stepPercent: percentSchema.describe("Increment per step: 10 expands to 10, 20, ... 90 % then promotion."),
    ...shorthandCommon,
  })
  .describe("Shorthand for evenly spaced steps.");

const exponentialStrategy = z
  .strictObject({
    type: z.literal("exponential"),
    startPercent: percentSchema.describe("First step's percentage."),
    factor: z
      .number({ error: "must be a number" })
      .gt(1, { error: "must be greater than 1" })
      .optional()
      .describe("Growth factor per step. Default 2."),
    ...shorthandCommon,
  })
  .describe("Shorthand for geometrically growing steps (start, start*factor, ...) below 100 %.");

const blueGreenStrategy = z
  .strictObject({
    type: z.literal("blueGreen"),
    testPercent: percentSchema
      .optional()
      .describe("Traffic the new slot gets during the bake. Default 0 (dark: only alarm gates, e.g. synthetic checks, can judge it)."),
    bake: durationSchema.describe("How long the new slot bakes before the single cut-over."),
    approval: z.boolean({ error: "must be true or false" }).optional().describe("Ask for approval before the cut-over."),
    ...stepControls,
  })
  .describe("One atomic cut-over after a bake, with an instant switch back.");

export const strategySchema = z.discriminatedUnion("type", [
  canaryStrategy,
  linearStrategy,
  exponentialStrategy,
  blueGreenStrategy,
]);


const ringSchema = z
  .strictObject({
    name: gateName.describe("Ring name, referred to by steps."),
    match: z
      .strictObject({
        headers: z
          .array(
            z.strictObject({
              name: z.string({ error: "must be an HTTP header name" }).min(1, { error: "must not be empty" }),
              values: z
                .array(z.string({ error: "must be a string" }), { error: "must be a list of values" })
                .min(1, { error: "must list at least one value" })
                .describe("Values to match (ALB wildcards * and ? allowed)."),
            }),
            { error: "must be a list of { name, values }" },
          )
          .optional(),
        cookie: z
          .strictObject({
            name: z.string({ error: "must be a cookie name" }).min(1, { error: "must not be empty" }),
            value: z.string({ error: "must be a cookie value" }).min(1, { error: "must not be empty" }),
          })
          .optional()
          .describe("Matched through the Cookie header (ALB has no cookie condition): *name=value*."),
        sourceIps: z
          .array(z.string({ error: "must be a CIDR block" }), { error: "must be a list of CIDR blocks" })
          .optional()
          .describe("Client source CIDR blocks, e.g. the office range."),
      })
      .describe("How the ALB recognises the ring's requests. At least one matcher."),
  })
  .describe("An audience ring: requests matched by an ALB rule and sent to the canary during ring steps.");

export const HOOK_POINTS = ["beforeStep", "afterStep", "beforePromote", "afterRollback"] as const;

const hookSchema = z
  .strictObject({
    name: gateName.describe("Hook name, unique in the policy."),
    function: z
      .string({ error: "must name a function declared in hookFunctions" })
      .describe("Key of the Lambda function in hookFunctions."),
    at: z
      .array(z.enum(HOOK_POINTS, { error: `must be one of ${HOOK_POINTS.map((h) => `"${h}"`).join(", ")}` }), {
        error: "must be a list of hook points",
      })
      .min(1, { error: "must name at least one hook point" })
      .describe("When the hook runs. beforeStep: before a step's traffic shift; afterStep: after its hold and gates pass; beforePromote; afterRollback (recorded, cannot undo a rollback)."),
    steps: z
      .array(z.number({ error: "must be a step number" }).int({ error: "must be a whole step number" }).min(1, { error: "step numbers start at 1" }), {
        error: "must be a list of step numbers (1-based)",
      })
      .optional()
      .describe("For beforeStep/afterStep: the steps (1-based) it runs at. Default: every step."),
    timeout: durationSchema.optional().describe('How long the hook may take; a timeout is a failure. Default "1m", at most "15m".'),
  })
  .describe("A lifecycle hook: a Lambda answering pass, fail or retry-later. A failing or timed-out hook is a failing gate.");

export const PROFILE_NAMES = ["low", "standard", "high"] as const;

export const policySchema = z
  .strictObject({
    profile: z
      .enum(PROFILE_NAMES, { error: 'must be one of "low", "standard", "high"' })
      .optional()
      .describe("Risk profile preset. Any other field given here overrides the preset's."),
    strategy: strategySchema.optional().describe("How traffic moves. Required unless a profile is given."),
    gates: z
      .array(gateSchema, { error: "must be a list of gates" })
      .optional()
      .describe("Health gates. Replaces the profile's gates when given."),
    rings: z.array(ringSchema, { error: "must be a list of rings" }).optional().describe("Audience rings that ring steps refer to."),
    hookFunctions: z
      .record(
        gateName,
        z.string({ error: "must be a Lambda function ARN" }).regex(/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9-_]+(:[A-Za-z0-9-_$]+)?$/, {
          error: "must be a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>), so the controller's role can be scoped to it",
        }),
        { error: "must be a map of name to Lambda function ARN" },
      )
      .optional()
      .describe("Lambda functions hooks may call. The controller's role may invoke only these."),
    hooks: z.array(hookSchema, { error: "must be a list of hooks" }).optional().describe("Lifecycle hooks."),
    analysis: z
      .strictObject({
        alpha: z
          .number({ error: "must be a number" })
          .gt(0, { error: "must be between 0 and 0.5" })
          .max(0.5, { error: "must be between 0 and 0.5" })
          .optional()
          .describe("False-rollback budget per rollout, shared by all comparison gates. Default 0.01."),
        prior: z
          .enum(["band", "wide"], { error: 'must be "band" or "wide"' })
          .optional()
          .describe(
            'Where count gates\' sequential tests put their prior weight over effect sizes. "band" (default) centres it on the ratio at which the canary is worse by exactly the gate\'s rollback band, which is where a rollback can happen; "wide" spreads it evenly from 1.05x to 1000x. Both keep the false-rollback bound alpha.',
          ),
      })
      .optional(),
    timeouts: z
      .strictObject({
        maxHold: durationSchema.optional().describe("Default longest hold of a step whose gates cannot decide. Default 4x the step's hold."),
        onTimeout: onTimeoutSchema.optional(),
      })
      .optional(),
    onDrift: z
      .enum(["hold", "rollback", "reapply"], { error: 'must be "hold", "rollback" or "reapply"' })
      .optional()
      .describe(
        'What to do when the listener weights differ from what the controller applied during a rollout. Default "reapply" (put the committed weights back and record it, like a reconcile loop). "hold" pauses and notifies, but only for drift that moves traffic toward the stable slot; drift that gives the canary more than its committed share, sends traffic to another target group, or to an empty stable slot is re-applied at once even then. "rollback" rolls back.',
      ),
    promotion: z
      .strictObject({
        bake: durationSchema
          .optional()
          .describe('How long the release runs at 100 % with the old slot still warm before it is finalized. Alarm gates guard it; a rollback is still instant. Default "0m".'),
        scaleDown: z
          .boolean({ error: "must be true or false" })
          .optional()
          .describe("Scale the old slot down when the release is finalized (ECS: desired count 0). Default true."),
      })
      .optional()
      .describe("What happens after promotion to 100 %."),
    access: accessSchema.optional(),
    weightTotal: z
      .number({ error: "must be a whole number" })
      .int({ error: "must be a whole number" })
      .min(2, { error: "must be between 2 and 999" })
      .max(999, { error: "must be between 2 and 999 (ALB weights are 0..999)" })
      .optional()
      .describe("Sum of the two target-group weights. Default 999, so one unit is about 0.1 %."),
  })
  .describe("A rollgate RolloutPolicy.");

export type PolicyInput = z.input<typeof policySchema>;
export type GateInput = z.input<typeof gateSchema>;
export type CanaryStepInput = z.input<typeof canaryStepSchema>;
export type StrategyInput = z.input<typeof strategySchema>;
export type ProfileName = (typeof PROFILE_NAMES)[number];
