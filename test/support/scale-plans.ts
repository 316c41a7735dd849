import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Write `features` plans of `phases` phases over `targets` targets of their own into `dir`, each with a Discord channel
 * and error-rate (and, unless `p95` is false, p95) gates: a platform team's stage, for the scale tests.
 */
export function writeScalePlans(dir: string, options: { features: number; phases?: number; targets?: number; p95?: boolean }): void {
  const { features, phases = 10, targets = 20, p95 = true } = options;
  for (let i = 0; i < features; i++) {
    const feature = `scale-feature-${String(i).padStart(2, '0')}`;
    writeFileSync(
      join(dir, `${feature}.json`),
      JSON.stringify({
        feature,
        targets: Array.from({ length: targets }, (_, t) => `svc-${i}-fn-${t}`),
        discord: { channelId: `1234567890123456${String(i).padStart(2, '0')}`, roles: { '223456789012345678': ['pm'] } },
        phases: Array.from({ length: phases }, (_, p) => ({
          name: `phase-${p}`,
          roles: ['all'],
          ...(p95 ? { percent: Math.min(100, (p + 1) * 10) } : {}),
          bake: 'PT6H',
          gates: { errorRate: { proceedBelow: 0.01, rollbackAbove: 0.02 }, ...(p95 ? { p95Ms: { proceedBelow: 500, rollbackAbove: 800 } } : {}) },
        })),
      }),
    );
  }
}
