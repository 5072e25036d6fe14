/** Alarm states by name (metric and composite alarms), DescribeAlarms paginated, 100 names a call. */
import { DescribeAlarmsCommand, type CloudWatchClient } from "@aws-sdk/client-cloudwatch";

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

export interface AlarmReader {
  /** States of the named alarms; an alarm that does not exist is absent (missing data to the engine). */
  states(names: readonly string[]): Promise<Record<string, AlarmState>>;
}

const NAMES_PER_CALL = 100;

export function createAlarmReader(cloudwatch: CloudWatchClient): AlarmReader {
  return {
    async states(names) {
      const unique = [...new Set(names)];
      const out: Record<string, AlarmState> = {};
      for (let i = 0; i < unique.length; i += NAMES_PER_CALL) {
        const chunk = unique.slice(i, i + NAMES_PER_CALL);
        let nextToken: string | undefined;
        do {
          const res = await cloudwatch.send(
            new DescribeAlarmsCommand({
              AlarmNames: chunk,
              AlarmTypes: ["MetricAlarm", "CompositeAlarm"],
              ...(nextToken ? { NextToken: nextToken } : {}),
            }),
          );
          for (const a of [...(res.MetricAlarms ?? []), ...(res.CompositeAlarms ?? [])]) {
            if (a.AlarmName && a.StateValue) out[a.AlarmName] = a.StateValue as AlarmState;
          }
          nextToken = res.NextToken;
        } while (nextToken);
      }
      return out;
    },
  };
}
