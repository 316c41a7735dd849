import { createStateTable, localDynamoClient, startLocalDynamo, type LocalDynamo } from '../../local/dynamo';
import { FakeCloudWatch } from '../../local/fakes/cloudwatch';
import { FakeLambdaControlPlane, type FakeLambdaOptions } from '../../local/fakes/lambda-control-plane';
import { FakeStepFunctions } from '../../local/fakes/step-functions';
import { CloudWatchAlarmReader } from '../../lambdas/adapters/cloudwatch-alarm-reader';
import { DynamoRolloutStore } from '../../lambdas/adapters/dynamo-state-store';
import { LambdaFlagWriter } from '../../lambdas/adapters/lambda-flag-writer';
import { SfnTaskTokens } from '../../lambdas/adapters/sfn-task-tokens';
import type { Clock } from '../../lambdas/core/ports';
import type { StepPorts } from '../../lambdas/core/rollout/steps';
import { virtualTime, type VirtualTime } from './virtual-time';

/** A clock tests move by hand; like a real clock it never reads the same instant twice (1 ms per read). */
export class ManualClock implements Clock {
  constructor(private t = Date.parse('2026-11-02T09:00:00.000Z')) {}
  now(): Date {
    return new Date(this.t++);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** dynalite with the Phasegate table, plus the control-plane fakes, wired into real adapters. */
export interface LocalAws {
  readonly dynamo: LocalDynamo;
  readonly tableName: string;
  readonly lambda: FakeLambdaControlPlane;
  readonly cloudwatch: FakeCloudWatch;
  readonly sfn: FakeStepFunctions;
  readonly clock: ManualClock;
  /** The time of the Lambda fake and the flag writer. */
  readonly time: VirtualTime;
  readonly ports: StepPorts & { tokens: SfnTaskTokens };
  stop(): Promise<void>;
}

let tables = 0;

/** Start dynalite, create a fresh table shaped like the stack's, and install the fakes at the SDK boundary. */
export async function startLocalAws(options: { lambda?: FakeLambdaOptions } = {}): Promise<LocalAws> {
  const dynamo = await startLocalDynamo();
  const tableName = `phasegate-test-${++tables}`;
  await createStateTable(dynamo.endpoint, tableName);
  // The Lambda fake's quotas and in-progress times, and the writer's pacing, all run on virtual time.
  const time = virtualTime();
  const lambda = new FakeLambdaControlPlane({ now: time.now, ...options.lambda }).install();
  const cloudwatch = new FakeCloudWatch().install();
  const sfn = new FakeStepFunctions().install();
  const clock = new ManualClock();
  const client = localDynamoClient(dynamo.endpoint);
  const ports = {
    store: new DynamoRolloutStore(tableName, client),
    flags: new LambdaFlagWriter(undefined, { now: time.now, sleep: time.sleep }),
    alarms: new CloudWatchAlarmReader(),
    tokens: new SfnTaskTokens(),
    clock,
  };
  return {
    dynamo,
    tableName,
    lambda,
    cloudwatch,
    sfn,
    clock,
    time,
    ports,
    async stop() {
      lambda.restore();
      cloudwatch.restore();
      sfn.restore();
      client.destroy();
      await dynamo.stop();
    },
  };
}
