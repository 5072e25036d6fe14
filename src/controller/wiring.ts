/**
 * Builds a controller from its configuration and AWS SDK clients: what the Lambda handler does
 * with real clients, what tests do against moto, and what an operator CLI does to run commands
 * locally against the table and listener instead of invoking the Lambda.
 */
import { createAccountFreeze } from "../aws/account-freeze.js";
import { createAlarmReader } from "../aws/alarms.js";
import { createClients, type AwsClients, type ClientOptions } from "../aws/clients.js";
import { createSlotDeployer } from "../aws/ecs.js";
import { createEventPublisher } from "../aws/events.js";
import { createHookRunner } from "../aws/hooks.js";
import { createMetricsReader } from "../aws/metrics.js";
import { createStateStore } from "../aws/state.js";
import { createRingRouter, createTrafficRouter } from "../aws/traffic.js";
import { parseControllerEnv, type ControllerConfig } from "./config.js";
import { createController, type Controller, type ControllerDeps } from "./controller.js";

export type ControllerOverrides = Partial<Omit<ControllerDeps, "config">>;

/** Adapters over the given clients, with any of them (or the clock) overridden. */
export function controllerDepsFromClients(config: ControllerConfig, clients: AwsClients, overrides: ControllerOverrides = {}): ControllerDeps {
  return {
    config,
    traffic: createTrafficRouter(clients.elbv2, {
      ...(config.listenerArn ? { listenerArn: config.listenerArn } : {}),
      ...(config.ruleArn ? { ruleArn: config.ruleArn } : {}),
      blueTargetGroupArn: config.blueTargetGroupArn,
      greenTargetGroupArn: config.greenTargetGroupArn,
      ...(config.stickiness ? { stickiness: config.stickiness } : {}),
    }),
    ...(config.ringRules ? { rings: createRingRouter(clients.elbv2, { rules: config.ringRules, blueTargetGroupArn: config.blueTargetGroupArn, greenTargetGroupArn: config.greenTargetGroupArn }) } : {}),
    store: createStateStore(clients.documents, { table: config.table, historyTtlDays: config.historyTtlDays }),
    alarms: createAlarmReader(clients.cloudwatch),
    metrics: createMetricsReader(clients.cloudwatch),
    publisher: createEventPublisher(clients, { eventBus: config.eventBus, ...(config.topicArn ? { topicArn: config.topicArn } : {}) }),
    ...(config.ecs ? { slots: createSlotDeployer(clients, { clusterArn: config.ecs.clusterArn }) } : {}),
    ...(config.policy.hooks.length ? { hooks: createHookRunner(clients.lambda) } : {}),
    ...(config.accountFreezeParameter && clients.ssm ? { accountFreeze: createAccountFreeze(clients.ssm, config.accountFreezeParameter) } : {}),
    ...overrides,
  };
}

export function createControllerFromClients(config: ControllerConfig, clients: AwsClients, overrides: ControllerOverrides = {}): Controller {
  return createController(controllerDepsFromClients(config, clients, overrides));
}

/** A controller configured from ROLLGATE_* variables (throws ConfigError naming a bad one). */
export function createControllerFromEnv(env: Record<string, string | undefined> = process.env, clientOptions: ClientOptions = {}, overrides: ControllerOverrides = {}): Controller {
  const config = parseControllerEnv(env);
  return createControllerFromClients(config, createClients(clientOptions), overrides);
}
