/**
 * A stage's stack with its nested stacks (one per feature) laid back into one template, as plain data, so that the
 * local tools (the rehearsal, the ASL extraction, the template tests) see every resource `cdk deploy` would create
 * with the references between them intact: inside a nested template, a parameter becomes the parent's value for it,
 * a resource's logical id gets the nested stack's logical id in front, and the parent's `Fn::GetAtt [Nested,
 * Outputs.X]` becomes the nested output's value.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudFormationResource, CloudFormationTemplate } from './asl';

/** A template that cannot be laid out flat: a nested template missing, or two resources with one logical id. */
export class NestedStackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NestedStackError';
  }
}

const NESTED_STACK = 'AWS::CloudFormation::Stack';

type Json = unknown;

function rewrite(value: Json, visit: (node: Record<string, Json>) => Json | undefined): Json {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, visit));
  if (value === null || typeof value !== 'object') return value;
  const replaced = visit(value as Record<string, Json>);
  if (replaced !== undefined) return replaced;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v, visit)]));
}

/**
 * `template` with each nested stack resource (by logical id, a key of `nested`) replaced by the resources of its
 * template. Nested stacks not in `nested` stay as they are.
 */
export function flattenNestedStacks(template: CloudFormationTemplate, nested: ReadonlyMap<string, CloudFormationTemplate>): CloudFormationTemplate {
  const resources: Record<string, CloudFormationResource> = {};
  const outputs = new Map<string, Record<string, Json>>();
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    const child = resource.Type === NESTED_STACK ? nested.get(logicalId) : undefined;
    if (!child) {
      resources[logicalId] = resource;
      continue;
    }
    const parameters = (resource.Properties?.Parameters ?? {}) as Record<string, Json>;
    const childParameters = (child as { Parameters?: Record<string, unknown> }).Parameters ?? {};
    const childResources = child.Resources ?? {};
    const local = (id: string): string => `${logicalId}${id}`;
    const inner = (value: Json): Json =>
      rewrite(value, (node) => {
        const keys = Object.keys(node);
        if (keys.length !== 1) return undefined;
        const [key] = keys as [string];
        const arg = node[key];
        if (key === 'Ref' && typeof arg === 'string') {
          if (arg in childParameters) {
            if (!(arg in parameters)) throw new NestedStackError(`${logicalId}: the parent passes no value for the nested parameter ${arg}`);
            return parameters[arg];
          }
          return arg in childResources ? { Ref: local(arg) } : node;
        }
        if (key === 'Fn::GetAtt' && Array.isArray(arg) && typeof arg[0] === 'string' && arg[0] in childResources) {
          return { 'Fn::GetAtt': [local(arg[0]), ...arg.slice(1).map(inner)] };
        }
        if (key === 'Fn::Sub' && typeof arg === 'string') {
          return { 'Fn::Sub': arg.replace(/\$\{([^!}][^}.]*)(\.[^}]*)?\}/g, (whole, id: string, attr: string | undefined) => (id in childResources ? `\${${local(id)}${attr ?? ''}}` : whole)) };
        }
        return undefined;
      });
    for (const [id, r] of Object.entries(childResources)) {
      if (resources[local(id)] || template.Resources?.[local(id)]) throw new NestedStackError(`${local(id)}: a logical id of the parent and of nested stack ${logicalId}`);
      const declared = (r as { DependsOn?: string | string[] }).DependsOn;
      const dependsOn = declared === undefined ? undefined : (Array.isArray(declared) ? declared : [declared]).map((d) => (d in childResources ? local(d) : d));
      resources[local(id)] = { ...(inner(r) as CloudFormationResource), ...(dependsOn ? { DependsOn: dependsOn } : {}) };
    }
    for (const [name, output] of Object.entries((child as { Outputs?: Record<string, { Value: Json }> }).Outputs ?? {})) {
      outputs.set(`${logicalId}.Outputs.${name}`, inner(output.Value) as Record<string, Json>);
    }
  }
  const outer = (value: Json): Json =>
    rewrite(value, (node) => {
      const getAtt = node['Fn::GetAtt'];
      if (Object.keys(node).length !== 1 || !Array.isArray(getAtt) || typeof getAtt[0] !== 'string' || typeof getAtt[1] !== 'string') return undefined;
      return outputs.get(`${getAtt[0]}.${getAtt[1]}`);
    });
  return {
    ...template,
    Resources: Object.fromEntries(Object.entries(resources).map(([id, r]) => [id, outer(r) as CloudFormationResource])),
    ...((template as { Outputs?: unknown }).Outputs ? { Outputs: outer((template as { Outputs?: unknown }).Outputs) } : {}),
  } as CloudFormationTemplate;
}

/** The asset hash a nested stack's `TemplateURL` ends in (`.../<hash>.json`), as CDK writes it. */
function templateAssetHash(resource: CloudFormationResource): string | undefined {
  const url = JSON.stringify(resource.Properties?.TemplateURL ?? '');
  return /([0-9a-f]{64})\.json/.exec(url)?.[1];
}

/** Every file asset of a cloud assembly's asset manifests (`*.assets.json`): hash -> path inside the assembly. */
function fileAssets(directory: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of readdirSync(directory).filter((f) => f.endsWith('.assets.json'))) {
    const manifest = JSON.parse(readFileSync(join(directory, file), 'utf8')) as { files?: Record<string, { source?: { path?: string } }> };
    for (const [hash, asset] of Object.entries(manifest.files ?? {})) if (asset.source?.path) out.set(hash, asset.source.path);
  }
  return out;
}

/**
 * A stack's template from a synthesized cloud assembly (`cdk.out`, or `app.synth().directory`) with its nested
 * stacks, and theirs, laid in (see {@link flattenNestedStacks}). Nested templates are found through the assembly's
 * asset manifest by the hash their `TemplateURL` names.
 */
export function templateWithNestedStacks(directory: string, template: CloudFormationTemplate): CloudFormationTemplate {
  const assets = fileAssets(directory);
  const nested = new Map<string, CloudFormationTemplate>();
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type !== NESTED_STACK) continue;
    const hash = templateAssetHash(resource);
    const path = hash === undefined ? undefined : assets.get(hash);
    if (path === undefined || !existsSync(join(directory, path))) throw new NestedStackError(`${logicalId}: its template is not in the cloud assembly ${directory}`);
    const child = JSON.parse(readFileSync(join(directory, path), 'utf8')) as CloudFormationTemplate;
    nested.set(logicalId, templateWithNestedStacks(directory, child));
  }
  return flattenNestedStacks(template, nested);
}

/** {@link templateWithNestedStacks} of the stack named `stackName` in a synthesized assembly. */
export function synthesizedStackTemplate(assembly: { readonly directory: string; getStackByName(name: string): { readonly template: unknown } }, stackName: string): CloudFormationTemplate {
  return templateWithNestedStacks(assembly.directory, assembly.getStackByName(stackName).template as CloudFormationTemplate);
}
