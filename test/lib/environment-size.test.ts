import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { ENV, LAMBDA_ENV_LIMIT_BYTES } from '../../lambdas/core/contract';
import { environmentBytes } from '../../lambdas/core/flags/env-merge';
import { environmentBytesAtMost } from '../../lib/environment-size';
import { stackName } from '../../lib/naming';
import { PhasegateFunction } from '../../lib/phasegate-function';
import { StateTable } from '../../lib/state-table';
import { functionsFromTemplate } from '../../local/asl';
import { synthesizedStackTemplate } from '../../local/nested-stacks';
import { writeScalePlans } from '../support/scale-plans';
import { buildTestApp, testApp } from './template-helpers';

jest.setTimeout(120_000);

function fn(environment: Record<string, string>) {
  const app = testApp();
  const stack = new Stack(app, 'phasegate-dev');
  const table = new StateTable(stack, 'State').table;
  const f = new PhasegateFunction(stack, 'Reconcile', { name: 'reconcile', stage: 'dev', table, tableAccess: 'readWrite', environment });
  return { app, f };
}

describe('a function environment checked at synth', () => {
  it('refuses at synth one that could pass 4 KB once deployed, naming the function and its largest variables', () => {
    const { app, f } = fn({ [ENV.features]: JSON.stringify(Array.from({ length: 200 }, (_, i) => `feature-number-${i}`)) });
    f.function.addEnvironment(ENV.ownRoles, 'x'.repeat(100));
    expect(() => app.synth()).toThrow(
      /\[phasegate-dev\/Reconcile\] the environment of Phasegate reconcile \(phasegate-dev\/Reconcile\) could measure \d+ bytes once deployed, over Lambda's 4096-byte limit \(largest: PHASEGATE_FEATURES \d+, PHASEGATE_OWN_ROLES 125, PHASEGATE_TABLE_NAME up to \d+\)/,
    );
  });

  it('sizes references at their longest in any partition and Region, literal text as Lambda measures it', () => {
    const { f } = fn({ [ENV.stateMachineArnPrefix]: 'arn:aws:states:us-east-1:123456789012:stateMachine:', ODD: 'é"' });
    const size = environmentBytesAtMost(f.function.node.defaultChild as CfnFunction);
    const table = size.variables.find((v) => v.name === ENV.tableName)!;
    // A generated table name: phasegate-dev-<logical id>-<13 characters>.
    expect(table.estimated).toBe(true);
    expect(table.bytes).toBeGreaterThanOrEqual(`"${ENV.tableName}":"phasegate-dev-State12345678-ABCDEFGHIJKLM",`.length);
    expect(size.variables.find((v) => v.name === 'ODD')).toEqual({ name: 'ODD', bytes: environmentBytes({ ODD: 'é"' }) - 1, estimated: false });
    expect(size.bytes).toBeLessThan(LAMBDA_ENV_LIMIT_BYTES);
  });

  it('is never below what the deployed function measures (a 50-feature stage, resolved as the local tools deploy it)', () => {
    const plansDir = mkdtempSync(join(tmpdir(), 'phasegate-env-size-'));
    try {
      writeScalePlans(plansDir, { features: 50, p95: false });
      const { app, stack } = buildTestApp({ stage: 'prod', plansDir });
      const assembly = app.synth();
      const deployed = [...new Set(functionsFromTemplate(synthesizedStackTemplate(assembly, stackName('prod'))).values())];
      const functions = stack.node.findAll().filter((c): c is PhasegateFunction => c instanceof PhasegateFunction);
      expect(functions.length).toBe(deployed.length);
      for (const f of functions) {
        const name = f.node.path;
        const atMost = environmentBytesAtMost(f.function.node.defaultChild as CfnFunction).bytes;
        const local = deployed.find((d) => d.logicalId === stack.getLogicalId(f.function.node.defaultChild as CfnFunction))!;
        expect({ name, ok: environmentBytes(local.environment) <= atMost && atMost <= LAMBDA_ENV_LIMIT_BYTES }).toEqual({ name, ok: true });
      }
    } finally {
      rmSync(plansDir, { recursive: true, force: true });
    }
  });
});
