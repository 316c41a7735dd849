import { parsePlan } from '../../lambdas/core/plan/validate';
import type { Plan } from '../../lambdas/core/plan/schema';

/** A small three-phase plan over two targets, for tests that need a plan but not a particular one. */
export function threePhasePlan(overrides: Partial<Record<string, unknown>> = {}): Plan {
  return parsePlan({
    feature: 'ux-update',
    targets: ['orders-api', 'orders-worker'],
    flags: { enabled: { name: 'DISABLE_UX_UPDATES', inverted: true } },
    phases: [
      { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
      { name: 'pm', roles: ['admin', 'pm'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
      { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
    ],
    ...overrides,
  });
}
