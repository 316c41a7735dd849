import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { TransientError } from '../core/errors';
import type { AlarmReader } from '../core/ports';
import { errorMessage, isTransient } from './aws-errors';

/** DescribeAlarms accepts at most 100 names per call. */
const NAMES_PER_CALL = 100;

/** Reads alarm states with CloudWatch DescribeAlarms (metric and composite alarms). */
export class CloudWatchAlarmReader implements AlarmReader {
  constructor(private readonly cloudwatch: CloudWatchClient = new CloudWatchClient({})) {}

  async alarmsInAlarm(names: readonly string[]): Promise<{ name: string; reason: string }[]> {
    const found: { name: string; reason: string }[] = [];
    for (let i = 0; i < names.length; i += NAMES_PER_CALL) {
      let nextToken: string | undefined;
      do {
        try {
          const out = await this.cloudwatch.send(
            new DescribeAlarmsCommand({
              AlarmNames: names.slice(i, i + NAMES_PER_CALL),
              AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
              StateValue: 'ALARM',
              NextToken: nextToken,
            }),
          );
          for (const alarm of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])]) {
            if (alarm.AlarmName) found.push({ name: alarm.AlarmName, reason: alarm.StateReason ?? 'in ALARM' });
          }
          nextToken = out.NextToken;
        } catch (err) {
          if (isTransient(err)) throw new TransientError(`reading alarm states: ${errorMessage(err)}`, { cause: err });
          throw err;
        }
      } while (nextToken);
    }
    return found;
  }
}
