import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { offFlagValues, phaseFlagValues, subFeatureKey, subFeatureOffValues } from '../../lambdas/core/flags/flags';
import { evaluate, type FlagContext } from 'phasegate/runtime';
import { EXAMPLE_PLANS, examplePlan } from '../core/example-plans';
import { vectorOf } from './vector-form';

/**
 * The Python reader (runtime/python/phasegate_flags.py) under `python3 -m unittest`: the specification's vectors,
 * its properties, and the same answers as the TypeScript reader for every shipped plan's phases, read through the
 * manifest Phasegate writes.
 */
const ROOT = join(__dirname, '..', '..');

const PERSONAS: FlagContext[] = [
  { role: 'admin', userId: 'discord-1001' },
  { roles: ['pm'], userId: 'discord-1002' },
  { roles: ['developer', 'on-call'], userId: 'discord-1003' },
  { role: 'member', userId: 'discord-1004' },
  {},
  ...Array.from({ length: 40 }, (_, i) => ({ userId: `user-${i}` })),
];

function crossCases(): { name: string; env: Record<string, string>; key: string; context: FlagContext; expected: Record<string, unknown> }[] {
  const cases = [];
  for (const name of EXAMPLE_PLANS) {
    const plan = examplePlan(name);
    const keys = [plan.feature, ...plan.subFeatures.map((s) => subFeatureKey(plan.feature, s.id))];
    const envs: [string, Record<string, string>][] = [
      ...plan.phases.map((p, i) => [`${name} phase ${p.name}`, phaseFlagValues(plan, i)] as [string, Record<string, string>]),
      [`${name} off`, offFlagValues(plan)],
      ...plan.subFeatures.map((s) => [`${name} ${s.id} off in the last phase`, { ...phaseFlagValues(plan, plan.phases.length - 1), ...subFeatureOffValues(plan, s.id) }] as [string, Record<string, string>]),
    ];
    for (const [label, env] of envs) {
      for (const key of keys) {
        for (const [i, context] of PERSONAS.entries()) {
          cases.push({ name: `${label}: ${key} for persona ${i}`, env, key, context, expected: vectorOf(evaluate(key, context, { env })) });
        }
      }
    }
  }
  return cases;
}

describe('the Python reader', () => {
  it('passes python3 -m unittest: vectors, properties, and the TypeScript reader’s answers for every shipped plan', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phasegate-py-'));
    try {
      const casesFile = join(dir, 'cases.json');
      const cases = crossCases();
      expect(cases.length).toBeGreaterThan(500);
      writeFileSync(casesFile, JSON.stringify(cases));
      const run = spawnSync('python3', ['-m', 'unittest', 'discover', '-v', '-s', join(ROOT, 'test', 'runtime', 'python')], {
        cwd: ROOT,
        env: { ...process.env, PHASEGATE_CROSS_CASES: casesFile, PYTHONDONTWRITEBYTECODE: '1' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (run.error) throw run.error;
      const output = `${run.stdout}${run.stderr}`;
      expect({ status: run.status, output }).toEqual({ status: 0, output: expect.stringMatching(/\nOK\b/) });
      expect(output).not.toMatch(/skipped/);
      expect(output).toMatch(/Ran \d+ tests/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
