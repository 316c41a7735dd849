import { stageAlarmPrefix } from '../../lambdas/core/gates/alarm-names';
import type { DiscordMessage } from '../../lambdas/core/discord/ports';
import {
  AlarmNotificationError,
  OPS_ALARM_SUBJECTS,
  RollbackAlertPostError,
  opsAlarmName,
  parseAlarmNotification,
  parseAlertChannels,
  parseOpsAlarmName,
  postRollbackAlerts,
  rollbackAlertMessage,
  stageAlertChannels,
} from '../../lambdas/core/rollback/rollback-alerts';

/** A CloudWatch alarm notification as SNS delivers it (the Message is this object as a JSON string). */
function notification(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    AlarmName: 'ops-phasegate-prod-rollback-failures',
    AlarmDescription: 'Phasegate prod: an automatic rollback gave up',
    AWSAccountId: '123456789012',
    NewStateValue: 'ALARM',
    NewStateReason: 'Threshold Crossed: 1 out of the last 1 datapoints [2.0 (01/05/26 10:00:00)] was greater than or equal to the threshold (1.0).',
    StateChangeTime: '2026-05-01T10:01:00.000+0000',
    Region: 'US East (N. Virginia)',
    AlarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:ops-phasegate-prod-rollback-failures',
    OldStateValue: 'OK',
    Trigger: {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Statistic: 'MAXIMUM',
      Dimensions: [{ value: 'phasegate-prod-AlarmRollbackFailuresQueue-AbC123', name: 'QueueName' }],
      Period: 60,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1.0,
    },
    ...overrides,
  };
}

const snsEvent = (...messages: string[]) => ({
  Records: messages.map((Message, i) => ({ EventSource: 'aws:sns', Sns: { MessageId: `m-${i}`, Subject: 'ALARM: "x" in US East', Message } })),
});

const text = (m: DiscordMessage): string => JSON.stringify(m);

describe('ops alarm names', () => {
  it.each(['prod', 'dev', 'ops', 'eu-prod'])('%s: never match the stage\'s rollback rule prefix, and read back', (stage) => {
    for (const subject of OPS_ALARM_SUBJECTS) {
      const name = opsAlarmName(stage, subject);
      expect(name.startsWith(stageAlarmPrefix(stage))).toBe(false);
      expect(name.startsWith('phasegate-')).toBe(false);
      expect(parseOpsAlarmName(name)).toEqual({ stage, subject });
    }
  });

  it('reads no other name', () => {
    expect(parseOpsAlarmName('phasegate-prod_ux-update-error-rate')).toBeUndefined();
    expect(parseOpsAlarmName('ops-phasegate--rollback-errors')).toBeUndefined();
    expect(parseOpsAlarmName('ops-phasegate-prod-something-else')).toBeUndefined();
  });
});

describe('stageAlertChannels', () => {
  it('takes every channel of the plans once, sorted, and skips plans without one', () => {
    expect(stageAlertChannels([{ discord: { channelId: '2' } }, {}, { discord: {} }, { discord: { channelId: '1' } }, { discord: { channelId: '2' } }])).toEqual(['1', '2']);
    expect(stageAlertChannels([])).toEqual([]);
  });
});

describe('parseAlarmNotification', () => {
  it('reads the alarm, its states, reason, time and the metric\'s dimensions', () => {
    expect(parseAlarmNotification(JSON.stringify(notification()))).toEqual({
      alarmName: 'ops-phasegate-prod-rollback-failures',
      newState: 'ALARM',
      oldState: 'OK',
      reason: expect.stringContaining('Threshold Crossed'),
      changedAt: '2026-05-01T10:01:00.000+0000',
      alarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:ops-phasegate-prod-rollback-failures',
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: 'phasegate-prod-AlarmRollbackFailuresQueue-AbC123' },
    });
  });

  it.each([
    ['not JSON', 'hello', /not JSON/],
    ['an array', '[1]', /not an object/],
    ['no alarm name or state', JSON.stringify({ Type: 'Notification' }), /no AlarmName, no NewStateValue/],
    ['no state', JSON.stringify({ AlarmName: 'a' }), /no NewStateValue/],
  ])('refuses %s with an AlarmNotificationError', (_what, message, error) => {
    expect(() => parseAlarmNotification(message)).toThrow(AlarmNotificationError);
    expect(() => parseAlarmNotification(message)).toThrow(error);
  });
});

describe('rollbackAlertMessage', () => {
  it('says which alarm, the new state, why, which queue, and what to do', () => {
    const { message, alarmName, problem } = rollbackAlertMessage(JSON.stringify(notification()), { stage: 'prod' });
    expect(problem).toBeUndefined();
    expect(alarmName).toBe('ops-phasegate-prod-rollback-failures');
    const embed = message.embeds![0]!;
    expect(embed.title).toBe('🚨 Phasegate prod: ops-phasegate-prod-rollback-failures is ALARM');
    expect(embed.description).toMatch(/gave up after Lambda's retries.*may be incomplete/);
    expect(embed.timestamp).toBe('2026-05-01T10:01:00.000Z');
    const fields = Object.fromEntries(embed.fields!.map((f) => [f.name, f.value]));
    expect(fields).toMatchObject({
      Alarm: '`ops-phasegate-prod-rollback-failures`',
      State: 'OK → **ALARM**',
      Watching: 'queue `phasegate-prod-AlarmRollbackFailuresQueue-AbC123`',
    });
    expect(fields.Reason).toContain('Threshold Crossed');
    expect(fields['What to do']).toMatch(/Inspect the queue.*phasegate status <feature>.*phasegate rollback <feature>/);
    expect(message.allowed_mentions).toEqual({ parse: [] });
  });

  it('names the function for the errors alarm, and the dead-letter queue guidance for the rule\'s queue', () => {
    const errors = rollbackAlertMessage(
      JSON.stringify(notification({ AlarmName: 'ops-phasegate-prod-rollback-errors', Trigger: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ name: 'FunctionName', value: 'phasegate-prod-AlarmRollbackFunction' }] } })),
      { stage: 'prod' },
    ).message;
    expect(text(errors)).toContain('function `phasegate-prod-AlarmRollbackFunction`');
    expect(text(errors)).toContain("function's logs");
    const dead = rollbackAlertMessage(JSON.stringify(notification({ AlarmName: 'ops-phasegate-prod-rule-dead-letters' })), { stage: 'prod' }).message;
    expect(text(dead)).toContain('never started');
    expect(text(dead)).toContain('ERROR_CODE');
  });

  it('reports a recovery in green without asking for a rollback', () => {
    const { message } = rollbackAlertMessage(JSON.stringify(notification({ NewStateValue: 'OK', OldStateValue: 'ALARM' })), { stage: 'prod' });
    const embed = message.embeds![0]!;
    expect(embed.title).toBe('✅ Phasegate prod: ops-phasegate-prod-rollback-failures is OK again');
    expect(embed.color).toBe(0x2ecc71);
    expect(text(message)).not.toContain('phasegate rollback');
  });

  it('turns an unreadable message into a generic alert and a problem to log, never a crash', () => {
    const { message, problem, alarmName } = rollbackAlertMessage('{"Type": "Notification"', { stage: 'prod', subject: 'Something odd' });
    expect(problem).toMatch(/not JSON/);
    expect(alarmName).toBeUndefined();
    expect(message.embeds![0]!.title).toBe('⚠️ Phasegate prod: an alert arrived that could not be read');
    expect(text(message)).toContain('ops-phasegate-prod-');
    expect(text(message)).toContain('phasegate status <feature>');
    expect(text(message)).toContain('Something odd');
  });

  it('shows user text literally and leaves out a time it cannot read', () => {
    const { message } = rollbackAlertMessage(JSON.stringify(notification({ NewStateReason: 'a *bold* claim @everyone', StateChangeTime: 'yesterday' })), { stage: 'prod' });
    const embed = message.embeds![0]!;
    expect(embed.fields!.find((f) => f.name === 'Reason')!.value).toBe('a \\*bold\\* claim @everyone');
    expect(embed.timestamp).toBeUndefined();
  });
});

describe('postRollbackAlerts', () => {
  function ports(failing: readonly string[] = []) {
    const posts: { channelId: string; message: DiscordMessage }[] = [];
    const logs: { level: string; message: string; extra?: Record<string, unknown> }[] = [];
    return {
      posts,
      logs,
      ports: {
        stage: 'prod',
        channels: ['111111111111111111', '222222222222222222'],
        discord: {
          async postChannelMessage(channelId: string, message: DiscordMessage) {
            if (failing.includes(channelId)) throw Object.assign(new Error('HTTP 403: Missing Access'), { name: 'DiscordApiError' });
            posts.push({ channelId, message });
            return { id: String(posts.length) };
          },
        },
        log: {
          info: (message: string, extra?: Record<string, unknown>) => logs.push({ level: 'INFO', message, extra }),
          error: (message: string, extra?: Record<string, unknown>) => logs.push({ level: 'ERROR', message, extra }),
        },
      },
    };
  }

  it('posts each notification to every channel', async () => {
    const { ports: p, posts } = ports();
    const outcomes = await postRollbackAlerts(p, snsEvent(JSON.stringify(notification()), JSON.stringify(notification({ NewStateValue: 'OK' }))));
    expect(posts.map((x) => [x.channelId, x.message.embeds![0]!.title])).toEqual([
      ['111111111111111111', '🚨 Phasegate prod: ops-phasegate-prod-rollback-failures is ALARM'],
      ['222222222222222222', '🚨 Phasegate prod: ops-phasegate-prod-rollback-failures is ALARM'],
      ['111111111111111111', '✅ Phasegate prod: ops-phasegate-prod-rollback-failures is OK again'],
      ['222222222222222222', '✅ Phasegate prod: ops-phasegate-prod-rollback-failures is OK again'],
    ]);
    expect(outcomes.map((o) => [o.messageId, o.alarmName, o.failed])).toEqual([
      ['m-0', 'ops-phasegate-prod-rollback-failures', []],
      ['m-1', 'ops-phasegate-prod-rollback-failures', []],
    ]);
  });

  it('logs a clear error for a bad SNS message and still posts a generic alert', async () => {
    const { ports: p, posts, logs } = ports();
    const [outcome] = await postRollbackAlerts(p, snsEvent('not json at all'));
    expect(outcome!.problem).toMatch(/not JSON/);
    expect(posts).toHaveLength(2);
    expect(logs.find((l) => l.level === 'ERROR')).toMatchObject({ message: expect.stringContaining('unreadable SNS message'), extra: { problem: expect.stringMatching(/not JSON/), snsMessageId: 'm-0' } });
  });

  it('posts a generic alert for an event that is not from SNS at all', async () => {
    const { ports: p, posts, logs } = ports();
    await postRollbackAlerts(p, { hello: 'world' });
    expect(posts.map((x) => x.message.embeds![0]!.title)).toEqual(['⚠️ Phasegate prod: an alert arrived that could not be read', '⚠️ Phasegate prod: an alert arrived that could not be read']);
    expect(logs.filter((l) => l.level === 'ERROR').map((l) => l.message)).toContain('rollback alert: the event is not an SNS event (no Records); posting a generic alert');
  });

  it('tries every channel, then fails the invocation when a post failed, so Lambda retries', async () => {
    const { ports: p, posts } = ports(['111111111111111111']);
    const attempt = postRollbackAlerts(p, snsEvent(JSON.stringify(notification())));
    await expect(attempt).rejects.toThrow(RollbackAlertPostError);
    await expect(attempt).rejects.toThrow(/1 rollback alert post\(s\) failed: 111111111111111111 \(DiscordApiError: HTTP 403: Missing Access\)/);
    expect(posts.map((x) => x.channelId)).toEqual(['222222222222222222']);
  });
});

describe('parseAlertChannels', () => {
  it('reads a JSON array of Discord ids', () => {
    expect(parseAlertChannels('["111111111111111111","222222222222222222"]')).toEqual(['111111111111111111', '222222222222222222']);
  });

  it.each([undefined, '', '[]', '"111111111111111111"', '["general"]'])('refuses %j', (raw) => {
    expect(() => parseAlertChannels(raw)).toThrow(/alert channels/);
  });
});
