import { CfnResource, Stack, Token } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { LAMBDA_ENV_LIMIT_BYTES } from '../lambdas/core/contract';
import { environmentBytes } from '../lambdas/core/flags/env-merge';

/**
 * The longest value each pseudo parameter takes in any partition (AWS General Reference, "Regions and zones" and
 * "Partitions"): `aws-iso-b`/`aws-iso-f` are the longest partitions, `ap-southeast-5`/`us-isob-east-1` the longest
 * Regions, account ids have 12 digits, `amazonaws.com.cn` is the longest URL suffix; a stack name takes at most 128
 * characters (CloudFormation quotas page) and a stack id adds the ARN and a UUID to it. Each with a little room.
 */
const PSEUDO_PARAMETER_BYTES: Readonly<Record<string, number>> = {
  'AWS::Partition': 10,
  'AWS::Region': 16,
  'AWS::AccountId': 12,
  'AWS::URLSuffix': 20,
  'AWS::StackName': 128,
  'AWS::StackId': 240,
};

/**
 * The longest physical name CloudFormation may give a resource of a type (each service's naming limit); a generated
 * name is `<stack>-<logicalId>-<13 random characters>`, cut to that limit.
 */
const NAME_LIMITS: Readonly<Record<string, number>> = {
  'AWS::Lambda::Function': 64,
  'AWS::IAM::Role': 64,
  'AWS::SQS::Queue': 80,
  'AWS::SNS::Topic': 256,
  'AWS::DynamoDB::Table': 255,
  'AWS::Logs::LogGroup': 512,
};
/** Any other resource's name, when a reference cannot be sized by type. */
const DEFAULT_NAME_LIMIT = 256;
/** `arn:<partition>:<service>:<region>:<account>:<resource-type>/` around a name, at its longest. */
const ARN_AROUND_NAME = 4 + 10 + 1 + 24 + 1 + 16 + 1 + 12 + 1 + 24;
/** A value the estimator cannot size (an import, a nested stack's output, a condition): as long as a name may be. */
const UNKNOWN_BYTES = DEFAULT_NAME_LIMIT + ARN_AROUND_NAME;

/** One variable's share of an environment, for the error that names what takes the most. */
export interface VariableSize {
  readonly name: string;
  /** Bytes of `"name":"value",` in the JSON Lambda measures, with the value at its longest. */
  readonly bytes: number;
  /** True when the value holds references resolved only at deploy (sized at their longest). */
  readonly estimated: boolean;
}

/** What a function's environment may measure once deployed (see {@link environmentBytesAtMost}). */
export interface EnvironmentSize {
  /** Bytes as Lambda counts them against its 4 KB limit, every reference at its longest. */
  readonly bytes: number;
  /** Each variable, largest first. */
  readonly variables: readonly VariableSize[];
}

/**
 * The longest a deployed value may be: literal text as it is, each reference (`Ref`, `Fn::GetAtt`, `Fn::Join`,
 * `Fn::Sub`) at the longest its target's name or ARN may be in any partition and Region.
 */
function longest(value: unknown, stack: Stack): { text: string; estimated: boolean } {
  if (typeof value === 'string') return { text: value, estimated: false };
  if (typeof value === 'number' || typeof value === 'boolean') return { text: String(value), estimated: false };
  const filler = (n: number) => ({ text: 'x'.repeat(n), estimated: true });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return filler(UNKNOWN_BYTES);
  const [key, arg] = Object.entries(value)[0] ?? [];
  switch (key) {
    case 'Ref': {
      if (typeof arg !== 'string') return filler(UNKNOWN_BYTES);
      if (arg in PSEUDO_PARAMETER_BYTES) return filler(PSEUDO_PARAMETER_BYTES[arg]!);
      const name = generatedNameBytes(stack, arg);
      // A queue's Ref is its URL, a topic's its ARN; the other types used here return their name.
      const type = resourceType(stack, arg);
      if (type === 'AWS::SQS::Queue' || type === 'AWS::SNS::Topic') return filler(name + ARN_AROUND_NAME);
      return filler(name);
    }
    case 'Fn::GetAtt':
      return filler(Array.isArray(arg) && typeof arg[0] === 'string' ? generatedNameBytes(stack, arg[0]) + ARN_AROUND_NAME : UNKNOWN_BYTES);
    case 'Fn::Join': {
      if (!Array.isArray(arg) || typeof arg[0] !== 'string' || !Array.isArray(arg[1])) return filler(UNKNOWN_BYTES);
      const parts = (arg[1] as unknown[]).map((part) => longest(part, stack));
      return { text: parts.map((p) => p.text).join(arg[0]), estimated: parts.some((p) => p.estimated) };
    }
    case 'Fn::Sub': {
      const template = typeof arg === 'string' ? arg : Array.isArray(arg) && typeof arg[0] === 'string' ? arg[0] : undefined;
      if (template === undefined) return filler(UNKNOWN_BYTES);
      const variables = (Array.isArray(arg) ? arg[1] : undefined) as Record<string, unknown> | undefined;
      const text = template.replace(/\$\{([^!}]+)\}/g, (_, ref: string) => {
        if (variables && ref in variables) return longest(variables[ref], stack).text;
        const [id, attribute] = ref.split('.');
        return longest(attribute ? { 'Fn::GetAtt': [id, attribute] } : { Ref: id }, stack).text;
      });
      return { text, estimated: true };
    }
    default:
      return filler(UNKNOWN_BYTES);
  }
}

const resourceTypes = new WeakMap<Stack, Map<string, string>>();

/** The type of the stack's resource `logicalId` (the stack's own resources only, not its nested stacks'). */
function resourceType(stack: Stack, logicalId: string): string | undefined {
  let types = resourceTypes.get(stack);
  if (!types) {
    types = new Map();
    for (const child of stack.node.findAll()) {
      if (CfnResource.isCfnResource(child) && Stack.of(child) === stack) types.set(stack.resolve(child.logicalId) as string, child.cfnResourceType);
    }
    resourceTypes.set(stack, types);
  }
  return types.get(logicalId);
}

/** The longest physical name CloudFormation may generate for the stack's resource `logicalId`. */
function generatedNameBytes(stack: Stack, logicalId: string): number {
  const type = resourceType(stack, logicalId);
  const limit = (type !== undefined ? NAME_LIMITS[type] : undefined) ?? DEFAULT_NAME_LIMIT;
  const stackName = Token.isUnresolved(stack.stackName) ? PSEUDO_PARAMETER_BYTES['AWS::StackName']! : stack.stackName.length;
  return Math.min(limit, stackName + 1 + logicalId.length + 1 + 13);
}

/**
 * The size of a function's environment as Lambda will measure it against its 4 KB limit ({@link environmentBytes}),
 * with every value resolved as the template has it and each reference at its longest in any partition and Region.
 * Read from the synthesized `AWS::Lambda::Function`, so variables added after the function was built count too.
 */
export function environmentBytesAtMost(fn: CfnFunction): EnvironmentSize {
  const stack = Stack.of(fn);
  const resolved = stack.resolve(fn.environment) as { variables?: Record<string, unknown>; Variables?: Record<string, unknown> } | undefined;
  const raw = resolved?.variables ?? resolved?.Variables ?? {};
  const values: Record<string, string> = {};
  const variables: VariableSize[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const { text, estimated } = longest(value, stack);
    values[name] = text;
    variables.push({ name, bytes: environmentBytes({ [name]: text }) - 2 + 1, estimated });
  }
  variables.sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  return { bytes: environmentBytes(values), variables };
}

/**
 * The problem with a function's environment at synth, if any: it could measure more than Lambda's 4 KB once
 * deployed. Names the function and its largest variables, so nothing fails only at deploy.
 */
export function environmentSizeProblems(what: string, fn: CfnFunction, limit = LAMBDA_ENV_LIMIT_BYTES): string[] {
  const size = environmentBytesAtMost(fn);
  if (size.bytes <= limit) return [];
  const largest = size.variables
    .slice(0, 3)
    .map((v) => `${v.name} ${v.estimated ? 'up to ' : ''}${v.bytes}`)
    .join(', ');
  return [
    `the environment of ${what} could measure ${size.bytes} bytes once deployed, over Lambda's ${limit}-byte limit ` +
      `(largest: ${largest}); carry less in it (derive it, or ship it in the bundle) or split the stage`,
  ];
}
