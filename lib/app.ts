import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_STAGES } from '../lambdas/core/contract';
import { DEFAULT_PLANS_DIR, loadPlans } from '../lambdas/core/plan/load';
import { stackName } from './naming';
import { PhasegateStack } from './phasegate-stack';

/** Context keys the app reads (`cdk synth -c key=value`, or `context` in cdk.json). */
export const CONTEXT_KEYS = {
  /** The stage to build: one of the allowed stages. */
  stage: 'stage',
  /** The allowed stages: an array (cdk.json) or a comma-separated list (`-c stages=dev,prod`). */
  stages: 'stages',
  /** The directory of plan files, relative to the working directory. */
  plansDir: 'plansDir',
  /** Whether approval requests of a stage mention the approver roles: `true` or `false` (cdk.json, per stage). */
  mentionApprovers: (stage: string) => `phasegate:${stage}:mentionApprovers`,
} as const;

/** The stage built when the context names none. */
export const DEFAULT_STAGE = 'dev';

/** The app's configuration is unusable (unknown stage, malformed context); the message says how to fix it. */
export class AppConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppConfigError';
  }
}

/** Options for {@link buildApp}. */
export interface BuildAppOptions {
  /**
   * Context for the app, under the CLI's context and cdk.json (those win): tests set `stage`, `plansDir` and
   * `aws:cdk:bundling-stacks` here.
   * @default - none
   */
  readonly context?: Readonly<Record<string, unknown>>;
  /**
   * Where the cloud assembly is written.
   * @default - the CLI's output directory, or a temporary directory outside the CLI
   */
  readonly outdir?: string;
  /**
   * Run CDK's built-in CloudFormation template validation at synth (about 3 s to start its engine). Unit tests
   * that synthesize many stacks turn it off; `cdk synth` keeps it.
   * @default - true
   */
  readonly builtinCloudFormationValidation?: boolean;
}

/** The app {@link buildApp} built, with what it was built from. */
export interface PhasegateApp {
  /** The CDK app, with cdk-nag's AWS Solutions checks registered as a validation plugin. */
  readonly app: App;
  /** The one stack: `phasegate-<stage>`. */
  readonly stack: PhasegateStack;
  /** The stage built. */
  readonly stage: string;
  /** The directory the plans were read from. */
  readonly plansDir: string;
  /** The plan files read, in order. */
  readonly planFiles: readonly string[];
}

/**
 * Build the Phasegate app for one stage: read and validate every plan for that stage, create the stack and
 * register cdk-nag. Never calls AWS. Throws {@link AppConfigError} for an unknown stage, a missing plans
 * directory or malformed context, and `PlansInvalidError` (every problem of every plan file) for invalid plans.
 */
export function buildApp(options: BuildAppOptions = {}): PhasegateApp {
  const app = new App({
    context: { ...options.context },
    outdir: options.outdir,
    builtinCloudFormationValidation: options.builtinCloudFormationValidation,
  });
  const stages = allowedStages(app.node.tryGetContext(CONTEXT_KEYS.stages));
  const stage = readStage(app.node.tryGetContext(CONTEXT_KEYS.stage), stages);
  const plansDirContext: unknown = app.node.tryGetContext(CONTEXT_KEYS.plansDir);
  if (plansDirContext !== undefined && (typeof plansDirContext !== 'string' || plansDirContext === '')) {
    throw new AppConfigError(`context "plansDir" must be a directory path, got ${JSON.stringify(plansDirContext)}`);
  }
  const plansDir = plansDirContext === undefined ? DEFAULT_PLANS_DIR : resolve(plansDirContext);
  if (!existsSync(plansDir) || !statSync(plansDir).isDirectory()) {
    throw new AppConfigError(`plans directory ${plansDir} does not exist (choose one with -c plansDir=<dir>)`);
  }

  const mentionContext: unknown = app.node.tryGetContext(CONTEXT_KEYS.mentionApprovers(stage));
  if (mentionContext !== undefined && ![true, false, 'true', 'false'].includes(mentionContext as never)) {
    throw new AppConfigError(`context "${CONTEXT_KEYS.mentionApprovers(stage)}" must be true or false, got ${JSON.stringify(mentionContext)}`);
  }
  const mentionApprovers = mentionContext === true || mentionContext === 'true';

  const loaded = loadPlans(plansDir, stage);
  const stack = new PhasegateStack(app, stackName(stage), {
    stackName: stackName(stage),
    stage,
    plans: loaded.map((l) => l.plan),
    description: stageDescription(stage, loaded.map((l) => l.plan.feature)),
    ...(mentionApprovers ? { discord: { mentionApprovers } } : {}),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, stage, plansDir, planFiles: loaded.map((l) => l.file) };
}

/** CloudFormation: a stack description is at most 1,024 bytes. */
export const MAX_STACK_DESCRIPTION_BYTES = 1024;
/** aws-cdk-lib's Stack refuses a description longer than 512 characters (StackDescriptionTooLong), stricter still. */
export const MAX_STACK_DESCRIPTION_CHARS = 512;

/**
 * The stage stack's description: the stage and its features, as many as fit in CloudFormation's 1,024 bytes and
 * CDK's 512 characters, then how many more (`..., and 12 more`).
 */
export function stageDescription(stage: string, features: readonly string[]): string {
  const head = `Phasegate staged rollouts, stage ${stage}: `;
  if (features.length === 0) return `${head}no features`;
  for (let shown = features.length; shown >= 0; shown--) {
    const rest = features.length - shown;
    const text = `${head}${features.length} features: ${features.slice(0, shown).join(', ')}${rest > 0 ? `${shown > 0 ? ',' : ''} and ${rest} more` : ''}`;
    if (Buffer.byteLength(text) <= MAX_STACK_DESCRIPTION_BYTES && text.length <= MAX_STACK_DESCRIPTION_CHARS) return text;
  }
  return `${head}${features.length} features`;
}

function allowedStages(value: unknown): readonly string[] {
  if (value === undefined) return DEFAULT_STAGES;
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && /^[a-z][a-z0-9-]*$/.test(s))) {
    throw new AppConfigError(
      `context "stages" must be a non-empty list of lowercase stage names (a-z, 0-9, -), got ${JSON.stringify(value)}`,
    );
  }
  return list as string[];
}

function readStage(value: unknown, stages: readonly string[]): string {
  const stage = value ?? DEFAULT_STAGE;
  if (typeof stage !== 'string' || !stages.includes(stage)) {
    throw new AppConfigError(
      `unknown stage ${JSON.stringify(stage)}: expected one of ${stages.join(', ')} (choose with -c stage=<name>; ` +
        'the list comes from the "stages" context or the defaults)',
    );
  }
  return stage;
}
