import { alarmRollbackPortsFromEnv } from '../../lambdas/adapters/alarm-rollback-ports';
import { LambdaRollbackContinuation } from '../../lambdas/adapters/lambda-rollback-continuation';
import { ENV } from '../../lambdas/core/contract';
import { notificationMessage } from '../../lambdas/core/discord/messages';
import type { RolloutNotification } from '../../lambdas/core/ports';

const base = { [ENV.tableName]: 'phasegate-dev', [ENV.stage]: 'dev', AWS_REGION: 'us-east-1', AWS_LAMBDA_FUNCTION_NAME: 'phasegate-dev-alarm-rollback' };

describe('the alarm-rollback function is never silent', () => {
  it('posts to the feature\'s channel when the stack gives it the bot token, and continues rollbacks by invoking itself', () => {
    const ports = alarmRollbackPortsFromEnv({ ...base, [ENV.discordBotTokenParameter]: '/phasegate/dev/discord/bot-token' });
    expect(ports.notifier).toBeDefined();
    expect(ports.continuation).toBeInstanceOf(LambdaRollbackContinuation);
  });

  it('has no notifier where the stage has no Discord (nothing to post to)', () => {
    expect(alarmRollbackPortsFromEnv(base).notifier).toBeUndefined();
  });
});

describe('rollback posts', () => {
  const common = { feature: 'ux-update', stage: 'prod', executionId: 'arn:aws:states:us-east-1:1:execution:phasegate-prod-ux-update:run', reason: 'alarm phasegate-prod_ux-update-error-rate is in ALARM', by: { id: 'alarm:x', name: 'alarm x', via: 'alarm' as const } };
  const names = Array.from({ length: 200 }, (_, i) => `orders-fn-${String(i).padStart(3, '0')}`);

  it('an automatic rollback says how long it took to be safe, and how many targets', () => {
    const n: RolloutNotification = { kind: 'rolled-back', ...common, targets: names.map((functionName) => ({ functionName, ok: true, ms: 900 })), timeToSafeMs: 13_750 };
    const embed = notificationMessage(n).embeds![0]!;
    expect(embed.title).toBe('⏪ ux-update: rolled back');
    expect(embed.fields).toContainEqual({ name: 'Time to safe', value: '13.8 s', inline: true });
    expect(embed.fields).toContainEqual({ name: 'Targets safe', value: '200 of 200', inline: true });
    const list = embed.fields!.find((f) => f.name === 'Targets')!.value;
    expect(list.length).toBeLessThanOrEqual(1024);
    expect(list).toMatch(/… and \d+ more$/);
  });

  it('a rollback still in progress after its first deadline names what is not safe yet and why', () => {
    const n: RolloutNotification = {
      kind: 'rollback-in-progress',
      ...common,
      safeTargets: names.slice(1),
      pendingTargets: [{ functionName: names[0]!, error: 'not safe yet when the deadline came: an update of orders-fn-000 is in progress' }],
      elapsedMs: 280_000,
    };
    const embed = notificationMessage(n).embeds![0]!;
    expect(embed.title).toBe('⏳ ux-update: rollback still in progress');
    expect(embed.description).toContain('199 target(s) are safe after 4 min 40 s');
    expect(embed.fields![0]).toMatchObject({ name: 'Not safe yet', value: expect.stringContaining('orders-fn-000: not safe yet') });
  });

  it('ROLLBACK_FAILED of a sub-feature names each target, its error and what to do', () => {
    const n: RolloutNotification = {
      kind: 'rollback-failed',
      ...common,
      subFeature: 'llm-parsing',
      failedTargets: [{ functionName: 'orders-fn-007', error: 'AccessDeniedException: not authorized' }],
      safeTargets: ['orders-fn-001'],
    };
    const embed = notificationMessage(n).embeds![0]!;
    expect(embed.title).toBe('🚨 ux-update.llm-parsing: ROLLBACK FAILED');
    expect(embed.description).toContain('phasegate rollback ux-update');
    expect(embed.fields).toContainEqual(expect.objectContaining({ name: 'Failed targets', value: '✗ orders-fn-007: AccessDeniedException: not authorized' }));
  });
});
