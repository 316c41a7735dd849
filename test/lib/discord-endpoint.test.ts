import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { DefinitionBody, Pass, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENV, PHASEGATE_FUNCTIONS, stateMachineArn } from '../../lambdas/core/contract';
import { environmentBytes } from '../../lambdas/core/flags/env-merge';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import { DISCORD_URL_OUTPUT, DiscordEndpoint, NOTIFYING_STEPS } from '../../lib/discord-endpoint';
import { PhasegateFunction } from '../../lib/phasegate-function';
import { PhasegateStack } from '../../lib/phasegate-stack';
import { StateTable } from '../../lib/state-table';
import { FAKE_ENV, asArray, buildTestApp, functionId, functionRoleId, policyStatements, resolveIntrinsics, testApp } from './template-helpers';

const ARN = `${FAKE_ENV.partition}:%s:${FAKE_ENV.region}:${FAKE_ENV.account}`;
const arn = (service: string, rest: string) => `arn:${ARN.replace('%s', service)}:${rest}`;
const plan = (feature: string, extra: Record<string, unknown> = {}): Plan =>
  parsePlan({ feature, targets: [`${feature}-api`], phases: [{ name: 'all', roles: ['all'], bake: 'PT5M' }], ...extra }, { stage: 'dev' });

function endpointStack(options: { key?: boolean; plans?: Plan[] } = {}) {
  const stack = new Stack(testApp(), 'DiscordTest');
  const table = new StateTable(stack, 'State').table;
  const plans = options.plans ?? [plan('orders', { discord: { channelId: '123456789012345678', roles: { '223456789012345678': ['pm'] } } }), plan('billing')];
  const stateMachines = Object.fromEntries(
    plans.map((p) => [p.feature, new StateMachine(stack, `Sm-${p.feature}`, { stateMachineName: `phasegate-dev-${p.feature}`, definitionBody: DefinitionBody.fromChainable(new Pass(stack, `P-${p.feature}`)) })]),
  );
  const endpoint = new DiscordEndpoint(stack, 'Discord', {
    stage: 'dev',
    table,
    plans,
    stateMachines,
    publicKeyParameterName: '/phasegate/dev/discord/public-key',
    botTokenParameterName: '/phasegate/dev/discord/bot-token',
    ...(options.key ? { botTokenKey: new Key(stack, 'TokenKey', { enableKeyRotation: true }) } : {}),
  });
  const step = new PhasegateFunction(stack, 'Step', { name: 'request-approval', stage: 'dev', table, tableAccess: 'readWrite' });
  endpoint.grantNotifications(step);
  return { stack, endpoint, plans, template: Template.fromStack(stack) };
}

describe('DiscordEndpoint', () => {
  const { template, plans } = endpointStack();

  it('serves the handler behind a Function URL with auth NONE (the signature is the authentication)', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', TargetFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DiscordHandlerFunction'), 'Arn'] } });
    template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunctionUrl', FunctionUrlAuthType: 'NONE', Principal: '*' });
  });

  it('configures the handler from the contract: state machine ARN prefix, SSM parameter names, API (no plans, no ARNs)', () => {
    const fn = template.findResources('AWS::Lambda::Function')[functionId(template, 'discord-interactions')]!;
    expect(fn.Properties).toMatchObject({ Timeout: 300, MemorySize: 512, Runtime: 'nodejs22.x' });
    const env = fn.Properties.Environment.Variables as Record<string, unknown>;
    // The plan summaries ship in the bundle (test/lib/bundling.test.ts); the ARNs are derived from the fixed names.
    expect(env[ENV.plans]).toBeUndefined();
    expect(resolveIntrinsics(env[ENV.stateMachineArnPrefix])).toBe(`arn:${ARN.replace('%s', 'states')}:stateMachine:`);
    expect(Object.keys(env).filter((k) => k.includes('STATE_MACHINE'))).toEqual([ENV.stateMachineArnPrefix]);
    expect(plans.map((p) => stateMachineArn(resolveIntrinsics(env[ENV.stateMachineArnPrefix]) as string, 'dev', p.feature))).toEqual([
      arn('states', 'stateMachine:phasegate-dev-orders'),
      arn('states', 'stateMachine:phasegate-dev-billing'),
    ]);
    expect(env).toMatchObject({
      [ENV.discordPublicKeyParameter]: '/phasegate/dev/discord/public-key',
      [ENV.discordBotTokenParameter]: '/phasegate/dev/discord/bot-token',
      [ENV.discordApiBaseUrl]: 'https://discord.com/api/v10',
      [ENV.flagWriteTimeoutSeconds]: '240',
      [ENV.functionRole]: 'discord-interactions',
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 900, MaximumRetryAttempts: 2 });
  });

  it('grants the handler exactly what it uses, each on exactly its resources', () => {
    const role = functionRoleId(template, 'discord-interactions');
    const statements = policyStatements(template)
      .filter((s) => s.roles.includes(role))
      .map(({ statement }) => ({ actions: asArray(statement.Action).sort(), resources: asArray(statement.Resource).map(String).sort() }));
    expect(statements).toEqual(
      expect.arrayContaining([
        { actions: ['ssm:GetParameter'], resources: [arn('ssm', 'parameter/phasegate/dev/discord/bot-token'), arn('ssm', 'parameter/phasegate/dev/discord/public-key')] },
        { actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'], resources: [expect.stringMatching(/^Smbilling/), expect.stringMatching(/^Smorders/)] },
        // grantStartExecution: one statement per state machine.
        { actions: ['states:StartExecution'], resources: [expect.stringMatching(/^Smbilling/)] },
        { actions: ['states:StartExecution'], resources: [expect.stringMatching(/^Smorders/)] },
        { actions: ['lambda:GetFunction', 'lambda:UpdateFunctionConfiguration'], resources: [arn('lambda', 'function:billing-api'), arn('lambda', 'function:orders-api')] },
        { actions: ['lambda:InvokeFunction'], resources: [expect.stringMatching(/^DiscordHandlerFunction.*\.Arn$/)] },
        { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], resources: [expect.stringMatching(/^StateTable.*\.Arn$/)] },
      ]),
    );
    // Nothing else: logs and X-Ray from PhasegateFunction, and the seven above.
    expect(statements).toHaveLength(9);
    expect(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('kms:'))).toEqual([]);
    expect(statements.filter((s) => s.resources.includes('*')).map((s) => s.actions)).toEqual([['xray:PutTelemetryRecords', 'xray:PutTraceSegments']]);
  });

  it('lets a notifying step read the bot token parameter and nothing more, and tells it where', () => {
    const role = functionRoleId(template, 'request-approval');
    const ssm = policyStatements(template).filter((s) => s.roles.includes(role) && asArray(s.statement.Action).some((a: string) => a.startsWith('ssm:')));
    expect(ssm.map((s) => [s.statement.Action, s.statement.Resource])).toEqual([['ssm:GetParameter', arn('ssm', 'parameter/phasegate/dev/discord/bot-token')]]);
    const fn = template.findResources('AWS::Lambda::Function')[functionId(template, 'request-approval')]!;
    expect(fn.Properties.Environment.Variables).toMatchObject({ [ENV.discordBotTokenParameter]: '/phasegate/dev/discord/bot-token', [ENV.discordApiBaseUrl]: 'https://discord.com/api/v10' });
  });

  it('grants kms:Decrypt on a customer managed key of the bot token, to the handler and the notifying steps', () => {
    const keyed = endpointStack({ key: true }).template;
    for (const name of ['discord-interactions', 'request-approval']) {
      const role = functionRoleId(keyed, name);
      const kms = policyStatements(keyed).filter((s) => s.roles.includes(role) && asArray(s.statement.Action).includes('kms:Decrypt'));
      expect(kms.map((s) => s.statement.Resource)).toEqual([expect.stringMatching(/^TokenKey.*\.Arn$/)]);
    }
  });

  it('reports every problem with its props in one error', () => {
    const stack = new Stack(testApp(), 'Bad');
    const table = new StateTable(stack, 'State').table;
    let message = '';
    try {
      new DiscordEndpoint(stack, 'Discord', {
        stage: 'Dev',
        table,
        plans: [plan('orders')],
        stateMachines: {},
        publicKeyParameterName: 'has spaces',
        botTokenParameterName: 'has spaces',
        apiBaseUrl: 'http://discord.com',
        applicationId: '12',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'DiscordEndpoint Bad/Discord is invalid:',
      '  - stage: expected a lowercase stage name (a-z, 0-9, -), got "Dev"',
      '  - publicKeyParameterName: expected an SSM parameter name (letters, digits, _ . - /), got "has spaces"',
      '  - botTokenParameterName: expected an SSM parameter name (letters, digits, _ . - /), got "has spaces"',
      '  - botTokenParameterName: must differ from publicKeyParameterName',
      '  - apiBaseUrl: expected an https:// URL, got "http://discord.com"',
      '  - applicationId: expected a Discord id (17-20 digits), got "12"',
      '  - stateMachines: missing the state machine of orders',
    ]);
  });

  it('keeps plan summaries out of the environment however many Discord roles they map', () => {
    const roles = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`3000000000000${String(i).padStart(5, '0')}`, ['pm']]));
    const { template: big } = endpointStack({ plans: [plan('orders', { discord: { roles } })] });
    const env = big.findResources('AWS::Lambda::Function')[functionId(big, 'discord-interactions')]!.Properties.Environment.Variables as Record<string, unknown>;
    expect(JSON.stringify(env)).not.toContain('3000000000000');
    expect(environmentBytes(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(resolveIntrinsics(v))])))).toBeLessThan(1024);
  });

  it('refuses a state machine by another name than the one the function derives', () => {
    const stack = new Stack(testApp(), 'Renamed');
    const table = new StateTable(stack, 'State').table;
    expect(
      () =>
        new DiscordEndpoint(stack, 'Discord', {
          stage: 'dev',
          table,
          plans: [plan('orders')],
          stateMachines: { orders: StateMachine.fromStateMachineName(stack, 'Orders', 'orders-rollout') },
          publicKeyParameterName: '/phasegate/dev/discord/public-key',
          botTokenParameterName: '/phasegate/dev/discord/bot-token',
        }),
    ).toThrow('stateMachines.orders: named "orders-rollout"; the endpoint calls "phasegate-dev-orders"');
  });
});

describe('the Discord endpoint in the stack', () => {
  const { app, stack } = buildTestApp({ stage: 'dev' });
  const template = Template.fromStack(stack);

  it('outputs the Function URL', () => {
    template.hasOutput(DISCORD_URL_OUTPUT, { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DiscordHandlerFunctionFunctionUrl'), 'FunctionUrl'] } });
  });

  it('uses the stage\'s default SSM parameter names', () => {
    const fn = template.findResources('AWS::Lambda::Function')[functionId(template, 'discord-interactions')]!;
    expect(fn.Properties.Environment.Variables).toMatchObject({
      [ENV.discordPublicKeyParameter]: '/phasegate/dev/discord/public-key',
      [ENV.discordBotTokenParameter]: '/phasegate/dev/discord/bot-token',
    });
  });

  it('gives the notifying steps the bot token parameter, and only them', () => {
    for (const name of PHASEGATE_FUNCTIONS) {
      const fn = template.findResources('AWS::Lambda::Function')[functionId(template, name)]!;
      expect([name, fn.Properties.Environment.Variables[ENV.discordBotTokenParameter]]).toEqual([name, NOTIFYING_STEPS.includes(name) ? '/phasegate/dev/discord/bot-token' : undefined]);
    }
  });

  it('takes other parameter names through the stack props', () => {
    const other = new PhasegateStack(testApp(), 'phasegate-dev', {
      stage: 'dev',
      plans: [plan('orders')],
      discord: { publicKeyParameter: '/team/discord/key', botTokenParameter: '/team/discord/token', applicationId: '123456789012345678' },
    });
    const t = Template.fromStack(other);
    const fn = t.findResources('AWS::Lambda::Function')[functionId(t, 'discord-interactions')]!;
    expect(fn.Properties.Environment.Variables).toMatchObject({
      [ENV.discordPublicKeyParameter]: '/team/discord/key',
      [ENV.discordBotTokenParameter]: '/team/discord/token',
      [ENV.discordApplicationId]: '123456789012345678',
    });
  });

  it('has no cdk-nag finding left open', () => {
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    const discord = report.violations.filter((v) => v.violatingResources.some((r) => (r.constructPath ?? '').includes('/Discord')));
    expect(discord.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});
