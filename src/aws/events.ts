/**
 * Decision events: every transition is published to EventBridge (PutEvents) and, when a topic is
 * configured, to SNS, so a dashboard, a chat hook or a pipeline can follow a rollout.
 */
import { PutEventsCommand, type EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { Phase } from "../engine/types.js";
import type { Weights } from "../policy/types.js";
import type { SlotWeights } from "./traffic.js";

export const EVENT_SOURCE = "rollgate";
export const EVENT_DETAIL_TYPE = "Rollgate Decision";

export interface DecisionEvent {
  /**
   * Stable id of the decision (`<service>/<history seq>`): the same on every delivery. Events are
   * delivered at least once (a crash between commit and publish is made good by a later
   * invocation), so a consumer drops an eventId it has seen. Absent on freeze events.
   */
  eventId?: string;
  service: string;
  /** Release version label of the canary (the version being released). */
  releaseVersion: string;
  stableVersion: string;
  rolloutId: string;
  /** Step index (0-based); -1 before the first step. */
  step: number;
  action: string;
  phase: Phase | "frozen" | "unfrozen";
  weights: Weights;
  slotWeights: SlotWeights;
  reason: string;
  trigger: string;
  at: string;
  actor?: string;
}

export interface EventPublisher {
  /** Publishes to every configured sink; rejects if any of them failed (the rest still went out). */
  publish(event: DecisionEvent): Promise<void>;
}

export interface EventPublisherOptions {
  /** EventBridge bus name or ARN. @default "default" */
  eventBus?: string;
  /** SNS topic ARN; no SNS message when absent. */
  topicArn?: string;
}

export function createEventPublisher(clients: { eventbridge: EventBridgeClient; sns: SNSClient }, options: EventPublisherOptions): EventPublisher {
  const bus = options.eventBus ?? "default";
  return {
    async publish(event) {
      const detail = JSON.stringify(event);
      const sends: Array<Promise<unknown>> = [
        clients.eventbridge
          .send(new PutEventsCommand({ Entries: [{ Source: EVENT_SOURCE, DetailType: EVENT_DETAIL_TYPE, Detail: detail, EventBusName: bus, Time: new Date(event.at) }] }))
          .then((res) => {
            if ((res.FailedEntryCount ?? 0) > 0) throw new Error(`PutEvents rejected the event: ${res.Entries?.[0]?.ErrorCode ?? "unknown"} ${res.Entries?.[0]?.ErrorMessage ?? ""}`);
          }),
      ];
      if (options.topicArn) {
        sends.push(
          clients.sns.send(
            new PublishCommand({
              TopicArn: options.topicArn,
              Subject: `rollgate ${event.service}: ${event.action} ${event.releaseVersion}`.slice(0, 100),
              Message: detail,
              MessageAttributes: {
                service: { DataType: "String", StringValue: event.service },
                action: { DataType: "String", StringValue: event.action },
                ...(event.eventId ? { eventId: { DataType: "String", StringValue: event.eventId } } : {}),
              },
            }),
          ),
        );
      }
      const results = await Promise.allSettled(sends);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed.length > 0) throw new AggregateError(failed.map((f) => f.reason), `publishing the ${event.action} event failed: ${failed.map((f) => String((f.reason as Error)?.message ?? f.reason)).join("; ")}`);
    },
  };
}
