import { App, Stage, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type BuildAppOptions, type PhasegateApp, buildApp } from '../../lib/app';
import type { PhasegateStack } from '../../lib/phasegate-stack';
import { synthesizedStackTemplate } from '../../local/nested-stacks';

/** Context that skips asset bundling: construct tests look at the template, not at the bundles. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] } as const;

/** Pseudo-parameter values the resolver substitutes. */
export const FAKE_ENV = { partition: 'aws', region: 'us-east-1', account: '123456789012' } as const;

/**
 * An app for construct tests: no bundling, and no built-in CloudFormation validation (its engine takes ~3 s to
 * start in every test file; the bundling and bin tests keep it).
 */
export function testApp(): App {
  return new App({ context: NO_BUNDLING, builtinCloudFormationValidation: false });
}

/** {@link buildApp} for tests: no bundling, no built-in CloudFormation validation, plus the given context. */
export function buildTestApp(context: Record<string, unknown> = {}, options: Omit<BuildAppOptions, 'context'> = {}): PhasegateApp {
  return buildApp({ builtinCloudFormationValidation: false, ...options, context: { ...NO_BUNDLING, ...context } });
}

const built = new Map<string, { stack: PhasegateStack; template: Template }>();

/**
 * The synthesized template of `stack` with its nested stacks (a stage's feature stacks) laid in: every resource
 * `cdk deploy` creates for the stage, references between the stacks resolved to the resources they name.
 */
export function stackTemplate(stack: Stack): Template {
  return Template.fromJSON(synthesizedStackTemplate(Stage.of(stack)!.synth(), stack.stackName) as Record<string, unknown>);
}

/** The project's stack for `stage` (with its feature stacks laid in), built from `rollouts/` without bundling; memoised per test file. */
export function stageStack(stage: string): { stack: PhasegateStack; template: Template } {
  let entry = built.get(stage);
  if (!entry) {
    const { stack } = buildTestApp({ stage });
    entry = { stack, template: stackTemplate(stack) };
    built.set(stage, entry);
  }
  return entry;
}

/**
 * Resolve the intrinsics a synthesized template uses in policies, outputs and definitions: `Fn::Join`,
 * `Ref` of a pseudo parameter (or of a resource: its logical id) and `Fn::GetAtt [X, Attr]` (by default `X.Attr`,
 * which is enough to tell resources apart).
 */
export function resolveIntrinsics(
  value: unknown,
  getAtt: (logicalId: string, attribute: string) => string = (id, attribute) => `${id}.${attribute}`,
): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, getAtt));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0]!;
    if (key === 'Fn::Join') {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((p) => String(resolveIntrinsics(p, getAtt))).join(separator);
    }
    if (key === 'Ref') {
      const refs: Record<string, string> = {
        'AWS::Partition': FAKE_ENV.partition,
        'AWS::Region': FAKE_ENV.region,
        'AWS::AccountId': FAKE_ENV.account,
      };
      return refs[arg as string] ?? String(arg);
    }
    if (key === 'Fn::GetAtt') {
      const [logicalId, attribute] = arg as [string, string];
      return getAtt(logicalId, attribute);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, getAtt)]));
}

/** One state of an extracted definition, loosely typed. */
export type AslState = Record<string, any>;
/** An extracted state machine definition. */
export interface Asl {
  StartAt: string;
  States: Record<string, AslState>;
  [key: string]: unknown;
}

/** The fake ARN a definition's `Fn::GetAtt [X, Arn]` resolves to: the only ARNs in a definition are functions'. */
export function fakeFunctionArn(logicalId: string): string {
  return `arn:${FAKE_ENV.partition}:lambda:${FAKE_ENV.region}:${FAKE_ENV.account}:function:${logicalId}`;
}

/** The definition of the only state machine whose name resolves to `name`. */
export function definitionNamed(template: Template, name: string): Asl {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')).filter(
    (r) => resolveIntrinsics(r.Properties.StateMachineName) === name,
  );
  if (machines.length !== 1) throw new Error(`expected one state machine named ${name}, found ${machines.length}`);
  return JSON.parse(resolveIntrinsics(machines[0]!.Properties.DefinitionString, fakeFunctionArn) as string) as Asl;
}

/** The state names on the path that never fails: each state's `Next`, or a Choice's `Default`, until the end. */
export function happyPath(asl: Asl): string[] {
  const path: string[] = [];
  let name: string | undefined = asl.StartAt;
  while (name !== undefined) {
    if (path.includes(name)) throw new Error(`loop at ${name}`);
    path.push(name);
    const state: AslState | undefined = asl.States[name];
    if (!state) throw new Error(`no state ${name}`);
    name = state.Type === 'Choice' ? state.Default : state.End ? undefined : state.Next;
  }
  return path;
}

/** Every statement of every IAM policy (inline `AWS::IAM::Policy`) in the template, resolved, with its policy's id. */
export function policyStatements(template: Template): { policyId: string; roles: string[]; statement: Record<string, any> }[] {
  const out: { policyId: string; roles: string[]; statement: Record<string, any> }[] = [];
  for (const [policyId, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    const doc = resolveIntrinsics(policy.Properties.PolicyDocument) as { Statement: Record<string, any>[] };
    const roles = (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
    for (const statement of doc.Statement) out.push({ policyId, roles, statement });
  }
  return out;
}

/** A value or array as an array. */
export function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The logical id of the role of the function whose `PHASEGATE_FUNCTION` is `name`. */
export function functionRoleId(template: Template, name: string): string {
  const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter(
    (f) => f.Properties.Environment?.Variables?.PHASEGATE_FUNCTION === name,
  );
  if (fns.length !== 1) throw new Error(`expected one function ${name}, found ${fns.length}`);
  return fns[0]!.Properties.Role['Fn::GetAtt'][0] as string;
}

/** The logical id of the function whose `PHASEGATE_FUNCTION` is `name`. */
export function functionId(template: Template, name: string): string {
  const ids = Object.entries(template.findResources('AWS::Lambda::Function'))
    .filter(([, f]) => f.Properties.Environment?.Variables?.PHASEGATE_FUNCTION === name)
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one function ${name}, found ${ids.length}`);
  return ids[0]!;
}
