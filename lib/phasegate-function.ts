import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  ENV,
  AUXILIARY_FUNCTIONS,
  PHASEGATE_FUNCTIONS,
  type AuxiliaryFunctionName,
  type PhasegateFunctionName,
} from '../lambdas/core/contract';
import { isDeployedFunction, tableActionsOf } from '../lambdas/adapters/aws-calls';
import { environmentSizeProblems } from './environment-size';
import { throwIfProblems } from './props-problems';

/** The repository root: `lambdas/`, `package.json` and `package-lock.json` live here. */
export const REPOSITORY_ROOT = resolve(__dirname, '..');

/** What a function may do with the state table. */
export type TableAccess = 'none' | 'read' | 'readWrite';

/** Props of {@link PhasegateFunction}. */
export interface PhasegateFunctionProps {
  /** Which Phasegate function this is; its code is `lambdas/<name>/index.ts` exporting `handler`. */
  readonly name: PhasegateFunctionName | AuxiliaryFunctionName;
  /** Deployment stage, written to the function's environment. */
  readonly stage: string;
  /** The state table; its name goes into the environment. */
  readonly table: ITable;
  /**
   * The most the function may do with the table. It is granted exactly the table actions its code calls, as listed
   * in `lambdas/adapters/aws-calls.ts`, which must fit within this. There is no default, so every grant is a
   * visible decision.
   */
  readonly tableAccess: TableAccess;
  /**
   * How long one invocation may run.
   * @default - 30 seconds
   */
  readonly timeout?: Duration;
  /**
   * Memory in MB.
   * @default - 256
   */
  readonly memorySize?: number;
  /**
   * Extra environment variables. They may not replace the ones this construct sets.
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * How long the function's logs are kept.
   * @default - one month
   */
  readonly logRetention?: RetentionDays;
  /**
   * Keep the log group when the stack is deleted (production).
   * @default - false: the log group is destroyed with the stack
   */
  readonly production?: boolean;
  /**
   * The handler's source file.
   * @default - `lambdas/<name>/index.ts` in this repository
   */
  readonly entry?: string;
  /**
   * Files shipped in the bundle next to `index.js` (file name -> text), written when the function is bundled: data
   * the handler reads at cold start that would not fit in Lambda's 4 KB of environment. Part of the asset, so a
   * change deploys new code.
   * @default - none
   */
  readonly bundledFiles?: Readonly<Record<string, string>>;
}

/**
 * The longest bundled file: it is written by one shell command at bundling, and Linux refuses a single argument
 * over 128 KiB (MAX_ARG_STRLEN, execve(2)).
 */
export const MAX_BUNDLED_FILE_BYTES = 100_000;
/** A bundled file's name: a plain file name, never the bundle's own files. */
const BUNDLED_FILE_NAME = /^(?!index\.js(\.map)?$)[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** A POSIX shell word holding `text` exactly (single quotes, each `'` closed, escaped and reopened). */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The item-level actions each table access allows at most (single-item reads and conditional writes, and a Query
 * over one feature's partition). No Scan, no batch or delete, no streams. A function gets the subset its code calls.
 */
export const TABLE_ACTIONS: Readonly<Record<TableAccess, readonly string[]>> = {
  none: [],
  read: ['dynamodb:GetItem', 'dynamodb:Query'],
  readWrite: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
};

/** Environment variables this construct owns; extra `environment` may not set them. */
const OWNED_ENV_KEYS: readonly string[] = [ENV.tableName, ENV.stage, ENV.functionRole, 'NODE_OPTIONS'];

/**
 * One Phasegate Lambda function: Node 22 on ARM64 with X-Ray tracing, bundled locally by esbuild (no Docker)
 * with the AWS SDK left to the runtime, its own log group, and its own role that can write only to that log
 * group. Further permissions are granted by the caller on {@link PhasegateFunction.role}.
 */
export class PhasegateFunction extends Construct {
  /** The function. */
  public readonly function: NodejsFunction;
  /** The function's execution role. */
  public readonly role: Role;
  /** Where the function logs. */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: PhasegateFunctionProps) {
    super(scope, id);
    const entry = props.entry ?? join(REPOSITORY_ROOT, 'lambdas', props.name, 'index.ts');
    const timeout = props.timeout ?? Duration.seconds(30);
    const memorySize = props.memorySize ?? 256;
    throwIfProblems(`PhasegateFunction ${this.node.path}`, validate(props, entry, timeout, memorySize));

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // An explicit role with log permissions scoped to this log group, instead of the default role's
    // AWSLambdaBasicExecutionRole managed policy, which may write to every log group in the account.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Phasegate ${props.name} (${props.stage})`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize,
      timeout,
      tracing: Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      description: `Phasegate ${props.name} (${props.stage})`,
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: join(REPOSITORY_ROOT, 'package-lock.json'),
      environment: {
        ...props.environment,
        [ENV.tableName]: props.table.tableName,
        [ENV.stage]: props.stage,
        [ENV.functionRole]: props.name,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node22',
        format: OutputFormat.CJS,
        externalModules: ['@aws-sdk/*'],
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
        ...(props.bundledFiles && Object.keys(props.bundledFiles).length > 0 ? { commandHooks: bundledFileHooks(props.bundledFiles) } : {}),
      },
    });
    // Checked when the app synthesizes, after every construct has added its variables: nothing fails only at deploy.
    this.node.addValidation({
      validate: () => environmentSizeProblems(`Phasegate ${props.name} (${this.node.path})`, this.function.node.defaultChild as CfnFunction),
    });

    const tableActions = grantedTableActions(props);
    if (tableActions.length > 0) props.table.grant(this.role, ...tableActions);

    // Tracing ACTIVE made CDK add the X-Ray statement to the role's default policy.
    Validations.of(this.role.node.findChild('DefaultPolicy')).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions; X-Ray requires Resource "*".',
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: the bundle is built for esbuild target node22 and tested on Node 22 semantics; ' +
        'moving to a newer runtime is a deliberate change of runtime and bundling target together.',
    });
  }
}

/**
 * Bundling hooks that write each file into the bundle's output directory after esbuild ran: `printf` of the text,
 * so the same command works for local bundling and in a bundling container.
 */
function bundledFileHooks(files: Readonly<Record<string, string>>) {
  return {
    beforeBundling: (): string[] => [],
    beforeInstall: (): string[] => [],
    afterBundling: (_inputDir: string, outputDir: string): string[] =>
      Object.entries(files).map(([name, text]) => `printf '%s' ${shellQuote(text)} > ${shellQuote(`${outputDir}/${name}`)}`),
  };
}

/** The table actions the function's code calls (its list in AWS_CALLS), within its `tableAccess`. */
function grantedTableActions(props: PhasegateFunctionProps): string[] {
  const allowed = TABLE_ACTIONS[props.tableAccess] ?? [];
  if (!isDeployedFunction(props.name)) return [...allowed];
  return tableActionsOf(props.name).filter((action) => allowed.includes(action));
}

function validate(props: PhasegateFunctionProps, entry: string, timeout: Duration, memorySize: number): string[] {
  const problems: string[] = [];
  const names: readonly string[] = [...PHASEGATE_FUNCTIONS, ...AUXILIARY_FUNCTIONS];
  if (!names.includes(props.name)) {
    problems.push(`name: expected one of ${names.join(', ')}, got ${JSON.stringify(props.name)}`);
  }
  if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) {
    problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
  }
  if (!Object.keys(TABLE_ACTIONS).includes(props.tableAccess)) {
    problems.push(`tableAccess: expected none, read or readWrite, got ${JSON.stringify(props.tableAccess)}`);
  } else if (isDeployedFunction(props.name)) {
    const beyond = tableActionsOf(props.name).filter((action) => !TABLE_ACTIONS[props.tableAccess].includes(action));
    if (beyond.length > 0) {
      problems.push(`tableAccess: ${props.name} calls ${beyond.join(', ')} on the table (aws-calls.ts), more than ${props.tableAccess} allows`);
    }
  }
  if (!Token.isUnresolved(timeout.toSeconds()) && (timeout.toSeconds() < 1 || timeout.toSeconds() > 900)) {
    problems.push(`timeout: expected between 1 second and 15 minutes, got ${timeout.toHumanString()}`);
  }
  if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10240) {
    problems.push(`memorySize: expected an integer from 128 to 10240 MB, got ${memorySize}`);
  }
  for (const key of Object.keys(props.environment ?? {})) {
    if (OWNED_ENV_KEYS.includes(key)) problems.push(`environment.${key}: set by PhasegateFunction itself`);
  }
  if (!existsSync(entry)) problems.push(`entry: ${entry} does not exist`);
  for (const [name, text] of Object.entries(props.bundledFiles ?? {})) {
    if (!BUNDLED_FILE_NAME.test(name)) problems.push(`bundledFiles.${name}: expected a plain file name (letters, digits, . _ -), not the bundle's index.js`);
    else if (Buffer.byteLength(text) > MAX_BUNDLED_FILE_BYTES) {
      problems.push(`bundledFiles.${name}: ${Buffer.byteLength(text)} bytes, over the ${MAX_BUNDLED_FILE_BYTES} one bundling command can write`);
    }
  }
  return problems;
}
