/**
 * The CloudWatch dashboard body of a ProgressiveService, as a pure function of resolved names so
 * it can be tested and documented without AWS. Blue and green are drawn side by side on every
 * graph: which of them is the canary changes with each release, and the weights widget says which.
 */

export interface DashboardParams {
  service: string;
  region: string;
  /** `LoadBalancer` dimension (app/<name>/<id>). */
  loadBalancer: string;
  /** `TargetGroup` dimension per slot. */
  blueTargetGroup: string;
  greenTargetGroup: string;
  /** Alarms shown in the status widget (gate alarms first, then the composite). */
  alarmArns: string[];
  /** The controller's log group (its JSON logs carry each decision and the weights per slot). */
  controllerLogGroup: string;
  /** The controller's function name (for its own Errors/Throttles). */
  controllerFunction: string;
  /** Namespace of the controller's EMF metrics. */
  metricsNamespace: string;
  latencyPercentile: number;
}

const ELB = "AWS/ApplicationELB";
const SLOT_COLORS = { blue: "#1f77b4", green: "#2ca02c" } as const;

type Widget = Record<string, unknown>;

/** The dashboard body (CloudWatch's JSON format). */
export function renderDashboard(p: DashboardParams): { widgets: Widget[] } {
  const slots = [
    ["blue", p.blueTargetGroup],
    ["green", p.greenTargetGroup],
  ] as const;
  const dims = (tg: string) => ["LoadBalancer", p.loadBalancer, "TargetGroup", tg] as const;
  const metricWidget = (title: string, x: number, y: number, metrics: unknown[], extra: Record<string, unknown> = {}): Widget => ({
    type: "metric",
    x,
    y,
    width: 8,
    height: 6,
    properties: { title, region: p.region, view: "timeSeries", stacked: false, period: 60, metrics, ...extra },
  });

  const requests = slots.map(([slot, tg]) => [ELB, "RequestCount", ...dims(tg), { stat: "Sum", label: `${slot} requests`, color: SLOT_COLORS[slot] }]);
  const errorRate = slots.flatMap(([slot, tg]) => [
    [ELB, "RequestCount", ...dims(tg), { stat: "Sum", id: `${slot}_req`, visible: false }],
    [ELB, "HTTPCode_Target_5XX_Count", ...dims(tg), { stat: "Sum", id: `${slot}_err`, visible: false }],
    [ELB, "TargetConnectionErrorCount", ...dims(tg), { stat: "Sum", id: `${slot}_conn`, visible: false }],
    [{ expression: `IF(${slot}_req > 0, 100 * (FILL(${slot}_err, 0) + FILL(${slot}_conn, 0)) / ${slot}_req)`, label: `${slot} failed %`, id: `${slot}_rate`, color: SLOT_COLORS[slot] }],
  ]);
  const latency = slots.map(([slot, tg]) => [
    ELB,
    "TargetResponseTime",
    ...dims(tg),
    { stat: `p${p.latencyPercentile}`, label: `${slot} p${p.latencyPercentile} (s)`, color: SLOT_COLORS[slot] },
  ]);
  const hosts = slots.flatMap(([slot, tg]) => [
    [ELB, "HealthyHostCount", ...dims(tg), { stat: "Minimum", label: `${slot} healthy`, color: SLOT_COLORS[slot] }],
    [ELB, "UnHealthyHostCount", ...dims(tg), { stat: "Maximum", label: `${slot} unhealthy` }],
  ]);
  const decisions = ["Decisions", "Transitions", "Rollbacks", "DriftDetected", "InvocationErrors"].map((m) => [
    p.metricsNamespace,
    m,
    "service",
    p.service,
    { stat: "Sum", label: m },
  ]);
  const controllerHealth = [
    ["AWS/Lambda", "Errors", "FunctionName", p.controllerFunction, { stat: "Sum", label: "controller errors" }],
    ["AWS/Lambda", "Throttles", "FunctionName", p.controllerFunction, { stat: "Sum", label: "controller throttles" }],
  ];
  const logSource = `SOURCE '${p.controllerLogGroup}'`;

  return {
    widgets: [
      {
        type: "text",
        x: 0,
        y: 0,
        width: 24,
        height: 2,
        properties: {
          markdown: `## rollgate: ${p.service}\nBlue and green side by side. The **canary** is the slot with the smaller weight (see *Weights per slot*); the other is **stable**. \`rollgate status ${p.service}\` shows the phase and step.`,
        },
      },
      metricWidget("Requests per slot", 0, 2, requests),
      metricWidget("Failed requests % per slot (target 5XX + connection errors)", 8, 2, errorRate, { yAxis: { left: { min: 0 } } }),
      metricWidget(`Latency p${p.latencyPercentile} per slot`, 16, 2, latency),
      {
        type: "log",
        x: 0,
        y: 8,
        width: 8,
        height: 6,
        properties: {
          title: "Weights per slot (controller)",
          region: p.region,
          view: "timeSeries",
          query: `${logSource} | filter ispresent(result.slotWeights.blue) | stats max(result.slotWeights.blue) as blue, max(result.slotWeights.green) as green by bin(1m)`,
        },
      },
      metricWidget("Controller decisions (EMF)", 8, 8, decisions),
      metricWidget("Healthy / unhealthy targets per slot", 16, 8, hosts),
      {
        type: "alarm",
        x: 0,
        y: 14,
        width: 16,
        height: 4,
        properties: { title: "Health gates", alarms: p.alarmArns, sortBy: "stateUpdatedTimestamp", states: [] },
      },
      metricWidget("Controller errors and throttles", 16, 14, controllerHealth),
      {
        type: "log",
        x: 0,
        y: 18,
        width: 24,
        height: 6,
        properties: {
          title: "Decisions (audit trail, newest first)",
          region: p.region,
          view: "table",
          query: `${logSource} | filter ispresent(result.action) | fields @timestamp, result.trigger, result.action, result.phase, result.slotWeights.blue, result.slotWeights.green, result.reason | sort @timestamp desc | limit 50`,
        },
      },
    ],
  };
}
