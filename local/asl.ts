/**
 * Turns a synthesized CloudFormation template back into what `cdk deploy` would create, as plain data: the state
 * machines' ASL definitions and the Lambda functions' environments. Pure functions, no AWS.
 */
import { ENV } from '../lambdas/core/contract';

/** The part of a CloudFormation template this module reads. */
export interface CloudFormationTemplate {
  readonly Parameters?: Readonly<Record<string, { readonly Default?: unknown }>>;
  readonly Resources?: Readonly<Record<string, CloudFormationResource>>;
}

/** One resource of a {@link CloudFormationTemplate}. */
export interface CloudFormationResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
}

/** A plain Amazon States Language definition. */
export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly Comment?: string;
  readonly TimeoutSeconds?: number;
  readonly [field: string]: unknown;
}

/** One state of an {@link AslDefinition}; only the fields the local tools read are typed. */
export interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Readonly<Record<string, unknown>>;
  readonly Seconds?: number;
  readonly TimeoutSeconds?: number;
  readonly Branches?: readonly AslDefinition[];
  readonly Iterator?: AslDefinition;
  readonly ItemProcessor?: AslDefinition;
  readonly [field: string]: unknown;
}

/** A state machine found in a template. */
export interface TemplateStateMachine {
  readonly logicalId: string;
  /** The literal `StateMachineName`, when the template sets one. */
  readonly name?: string;
  readonly definition: AslDefinition;
}

/** A Lambda function found in a template, as the local runner needs it. */
export interface TemplateFunction {
  readonly logicalId: string;
  /** The literal `FunctionName` if the template sets one, else the logical id. */
  readonly functionName: string;
  /** `arn:aws:lambda:us-east-1:123456789012:function:<functionName>`: what `Fn::GetAtt [id, Arn]` resolves to. */
  readonly arn: string;
  /** `Environment.Variables` with every intrinsic resolved. */
  readonly environment: Readonly<Record<string, string>>;
  /** `Variables.PHASEGATE_FUNCTION`: which Phasegate handler this function runs, if it is one of ours. */
  readonly phasegateFunction?: string;
  /** `Timeout` in seconds. @default 3, Lambda's default */
  readonly timeoutSeconds: number;
  /** `MemorySize` in MB. @default 128, Lambda's default */
  readonly memorySize: number;
}

/** Options for resolving intrinsics. */
export interface ResolveOptions {
  /** Local names of DynamoDB tables by logical id: `Ref` to one of them resolves to its name. */
  readonly tableNames?: Readonly<Record<string, string>>;
}

/** The result of {@link validateAsl}. */
export interface AslValidation {
  readonly ok: boolean;
  /** `CODE: message` for every problem found. */
  readonly errors: readonly string[];
}

/** Region, account and partition that pseudo parameters resolve to locally. */
export const LOCAL_AWS = { partition: 'aws', region: 'us-east-1', accountId: '123456789012', urlSuffix: 'amazonaws.com' } as const;

const PSEUDO_PARAMETERS: Readonly<Record<string, string>> = {
  'AWS::Partition': LOCAL_AWS.partition,
  'AWS::Region': LOCAL_AWS.region,
  'AWS::AccountId': LOCAL_AWS.accountId,
  'AWS::URLSuffix': LOCAL_AWS.urlSuffix,
};

const TABLE_TYPES = new Set(['AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable']);

/** Thrown when a template uses an intrinsic or reference the local resolver does not support. */
export class UnsupportedIntrinsicError extends Error {
  /** @param path where in the template the value sits, e.g. `Resources.Fn.Properties.Environment.Variables.X` */
  constructor(readonly path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.name = 'UnsupportedIntrinsicError';
  }
}

class Resolver {
  constructor(
    private readonly template: CloudFormationTemplate,
    private readonly options: ResolveOptions,
  ) {}

  resolve(value: unknown, path: string): unknown {
    if (Array.isArray(value)) return value.map((item, i) => this.resolve(item, `${path}[${i}]`));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    const intrinsic = entries.length === 1 && (entries[0][0] === 'Ref' || entries[0][0].startsWith('Fn::'));
    if (!intrinsic) return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v, `${path}.${k}`)]));
    const [fn, args] = entries[0];
    const at = `${path}.${fn}`;
    switch (fn) {
      case 'Ref':
        return this.ref(this.string(args, at), at);
      case 'Fn::GetAtt':
        return this.getAtt(args, at);
      case 'Fn::Join':
        return this.join(args, at);
      case 'Fn::Sub':
        return this.sub(args, at);
      case 'Fn::Select':
        return this.select(args, at);
      case 'Fn::Split':
        return this.split(args, at);
      default:
        throw new UnsupportedIntrinsicError(at, `the intrinsic ${fn} is not supported locally`);
    }
  }

  resolveString(value: unknown, path: string): string {
    return this.string(this.resolve(value, path), path);
  }

  functionName(logicalId: string): string {
    const literal = this.template.Resources?.[logicalId]?.Properties?.FunctionName;
    return typeof literal === 'string' ? literal : logicalId;
  }

  private ref(name: string, at: string): string {
    const pseudo = PSEUDO_PARAMETERS[name];
    if (pseudo !== undefined) return pseudo;
    if (name.startsWith('AWS::')) throw new UnsupportedIntrinsicError(at, `the pseudo parameter ${name} is not supported locally`);
    const parameter = this.template.Parameters?.[name];
    if (parameter) {
      if (typeof parameter.Default === 'string') return parameter.Default;
      throw new UnsupportedIntrinsicError(at, `template parameter ${name} has no string Default to use locally`);
    }
    const resource = this.template.Resources?.[name];
    if (!resource) throw new UnsupportedIntrinsicError(at, `Ref to ${name}, which is neither a resource nor a parameter`);
    switch (resource.Type) {
      case 'AWS::Lambda::Function':
        return this.functionName(name);
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable':
        return this.tableName(name);
      case 'AWS::StepFunctions::StateMachine':
        return this.stateMachineArn(name);
      default:
        return `placeholder-${name}`;
    }
  }

  private getAtt(args: unknown, at: string): string {
    const [logicalId, attribute] = typeof args === 'string' ? splitOnce(args, '.') : (args as unknown[]);
    if (typeof logicalId !== 'string' || typeof attribute !== 'string') {
      throw new UnsupportedIntrinsicError(at, 'Fn::GetAtt needs [logicalId, attribute] as literal strings');
    }
    const resource = this.template.Resources?.[logicalId];
    if (!resource) throw new UnsupportedIntrinsicError(at, `Fn::GetAtt of ${logicalId}, which is not a resource of the template`);
    const { region, accountId } = LOCAL_AWS;
    if (resource.Type === 'AWS::Lambda::Function' && attribute === 'Arn') {
      return `arn:aws:lambda:${region}:${accountId}:function:${this.functionName(logicalId)}`;
    }
    if (TABLE_TYPES.has(resource.Type) && attribute === 'Arn') {
      return `arn:aws:dynamodb:${region}:${accountId}:table/${this.tableName(logicalId)}`;
    }
    if (resource.Type === 'AWS::StepFunctions::StateMachine' && attribute === 'Arn') return this.stateMachineArn(logicalId);
    return `placeholder-${logicalId}.${attribute}`;
  }

  private join(args: unknown, at: string): string {
    if (!Array.isArray(args) || args.length !== 2 || !Array.isArray(args[1])) {
      throw new UnsupportedIntrinsicError(at, 'Fn::Join needs [delimiter, [values...]]');
    }
    const delimiter = this.string(args[0], `${at}[0]`);
    return args[1].map((part, i) => this.resolveString(part, `${at}[1][${i}]`)).join(delimiter);
  }

  private sub(args: unknown, at: string): string {
    const [text, variables] = typeof args === 'string' ? [args, {}] : Array.isArray(args) ? args : [undefined, undefined];
    if (typeof text !== 'string' || typeof variables !== 'object' || variables === null) {
      throw new UnsupportedIntrinsicError(at, 'Fn::Sub needs a string or [string, {variables}]');
    }
    const values = variables as Record<string, unknown>;
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_whole, literal: string, name: string) => {
      if (literal) return `\${${name}}`;
      if (name in values) return this.resolveString(values[name], `${at}[1].${name}`);
      const [id, attribute] = splitOnce(name, '.');
      return attribute === undefined ? this.ref(id, at) : this.getAtt([id, attribute], at);
    });
  }

  private select(args: unknown, at: string): unknown {
    if (!Array.isArray(args) || args.length !== 2) throw new UnsupportedIntrinsicError(at, 'Fn::Select needs [index, list]');
    const index = Number(this.resolve(args[0], `${at}[0]`));
    const list = this.resolve(args[1], `${at}[1]`);
    if (!Array.isArray(list) || !Number.isInteger(index) || index < 0 || index >= list.length) {
      throw new UnsupportedIntrinsicError(at, `Fn::Select index ${index} is out of range`);
    }
    return list[index];
  }

  private split(args: unknown, at: string): string[] {
    if (!Array.isArray(args) || args.length !== 2) throw new UnsupportedIntrinsicError(at, 'Fn::Split needs [delimiter, string]');
    return this.resolveString(args[1], `${at}[1]`).split(this.string(args[0], `${at}[0]`));
  }

  private tableName(logicalId: string): string {
    const local = this.options.tableNames?.[logicalId];
    if (local !== undefined) return local;
    const literal = this.template.Resources?.[logicalId]?.Properties?.TableName;
    return typeof literal === 'string' ? literal : `placeholder-${logicalId}`;
  }

  private stateMachineArn(logicalId: string): string {
    const literal = this.template.Resources?.[logicalId]?.Properties?.StateMachineName;
    const name = typeof literal === 'string' ? literal : logicalId;
    return `arn:aws:states:${LOCAL_AWS.region}:${LOCAL_AWS.accountId}:stateMachine:${name}`;
  }

  private string(value: unknown, at: string): string {
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new UnsupportedIntrinsicError(at, `expected a string, got ${JSON.stringify(value)}`);
  }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const i = text.indexOf(separator);
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + separator.length)];
}

function resourcesOfType(template: CloudFormationTemplate, type: string): [string, CloudFormationResource][] {
  return Object.entries(template.Resources ?? {}).filter(([, r]) => r.Type === type);
}

/**
 * Every `AWS::StepFunctions::StateMachine` of the template with its definition as plain ASL: `DefinitionString`
 * (or `Definition`) with its intrinsics resolved and `DefinitionSubstitutions` applied. Lambda ARNs resolve to
 * `arn:aws:lambda:us-east-1:123456789012:function:<logical id>`, matching {@link functionsFromTemplate}.
 * Throws {@link UnsupportedIntrinsicError} naming the first intrinsic it cannot resolve.
 */
export function stateMachinesFromTemplate(
  template: CloudFormationTemplate,
  options: ResolveOptions = {},
): TemplateStateMachine[] {
  const resolver = new Resolver(template, options);
  return resourcesOfType(template, 'AWS::StepFunctions::StateMachine').map(([logicalId, resource]) => {
    const props = resource.Properties ?? {};
    const path = `Resources.${logicalId}.Properties`;
    let text: string;
    if (props.DefinitionString !== undefined) {
      text = resolver.resolveString(props.DefinitionString, `${path}.DefinitionString`);
    } else if (props.Definition !== undefined) {
      text = JSON.stringify(resolver.resolve(props.Definition, `${path}.Definition`));
    } else {
      throw new UnsupportedIntrinsicError(path, 'the state machine has neither DefinitionString nor Definition (DefinitionS3Location is not supported locally)');
    }
    const substitutions = (props.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
    text = text.replace(/\$\{([^}]+)\}/g, (whole, key: string) =>
      key in substitutions ? resolver.resolveString(substitutions[key], `${path}.DefinitionSubstitutions.${key}`) : whole,
    );
    let definition: AslDefinition;
    try {
      definition = JSON.parse(text) as AslDefinition;
    } catch (error) {
      throw new Error(`${path}: the resolved definition is not JSON: ${(error as Error).message}`);
    }
    const name = typeof props.StateMachineName === 'string' ? props.StateMachineName : undefined;
    return { logicalId, ...(name !== undefined && { name }), definition };
  });
}

/**
 * Every `AWS::Lambda::Function` of the template, keyed both by the ARN that `Fn::GetAtt [id, Arn]` resolves to
 * and by logical id. Environment intrinsics are resolved; `Ref` to a table gives its name from
 * `options.tableNames` (see `createTablesFromTemplate` in `local/dynamo.ts`).
 */
export function functionsFromTemplate(
  template: CloudFormationTemplate,
  options: ResolveOptions = {},
): ReadonlyMap<string, TemplateFunction> {
  const resolver = new Resolver(template, options);
  const functions = new Map<string, TemplateFunction>();
  for (const [logicalId, resource] of resourcesOfType(template, 'AWS::Lambda::Function')) {
    const props = resource.Properties ?? {};
    const path = `Resources.${logicalId}.Properties.Environment.Variables`;
    const raw = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<
      string,
      unknown
    >;
    const environment = Object.fromEntries(
      Object.entries(raw).map(([key, value]) => [key, resolver.resolveString(value, `${path}.${key}`)]),
    );
    const functionName = resolver.functionName(logicalId);
    const fn: TemplateFunction = {
      logicalId,
      functionName,
      arn: `arn:aws:lambda:${LOCAL_AWS.region}:${LOCAL_AWS.accountId}:function:${functionName}`,
      environment,
      ...(environment[ENV.functionRole] !== undefined && { phasegateFunction: environment[ENV.functionRole] }),
      timeoutSeconds: typeof props.Timeout === 'number' ? props.Timeout : 3,
      memorySize: typeof props.MemorySize === 'number' ? props.MemorySize : 128,
    };
    functions.set(fn.arn, fn);
    functions.set(logicalId, fn);
  }
  return functions;
}

interface AslValidatorResult {
  isValid: boolean;
  errors: { 'Error code': string; Message: string }[];
}
type AslValidator = (definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }) => AslValidatorResult;

/** Validates an ASL definition with asl-validator 4 (JSONPath and ARN checks on). Does not modify `definition`. */
export function validateAsl(definition: unknown): AslValidation {
  // asl-validator ships no types, and writes QueryLanguage into the definition it is given.
  const validator = require('asl-validator') as AslValidator;
  const result = validator(JSON.parse(JSON.stringify(definition)), { checkPaths: true, checkArn: true });
  return { ok: result.isValid, errors: result.errors.map((e) => `${e['Error code']}: ${e.Message}`) };
}
