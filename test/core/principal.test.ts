import { principalMatches, principalName, rolesFromPrincipal } from '../../lambdas/core/rollout/principal';
import { threePhasePlan } from '../support/plans';

const ONCALL_SESSION = 'arn:aws:sts::123456789012:assumed-role/OnCall/olga';

describe('principalMatches (IAM ArnLike: part by part, * and ?)', () => {
  it.each([
    ['arn:aws:sts::*:assumed-role/OnCall/*', ONCALL_SESSION, true],
    ['arn:aws:sts::123456789012:assumed-role/OnCall/olga', ONCALL_SESSION, true],
    ['arn:aws:sts::123456789012:assumed-role/OnCall/*', 'arn:aws:sts::999999999999:assumed-role/OnCall/olga', false],
    ['arn:aws:sts::*:assumed-role/OnCall/*', 'arn:aws:sts::123456789012:assumed-role/OnCallers/olga', false],
    ['arn:aws:sts::*:assumed-role/oncall/*', ONCALL_SESSION, false],
    ['arn:aws:iam::*:user/admin-?', 'arn:aws:iam::123456789012:user/admin-a', true],
    ['arn:aws:iam::*:user/admin-?', 'arn:aws:iam::123456789012:user/admin-ab', false],
    // A * stays in its part: it cannot swallow the colons between account and resource.
    ['arn:aws:*:assumed-role/OnCall/olga', ONCALL_SESSION, false],
    ['arn:*:sts::*:*', ONCALL_SESSION, true],
    ['arn:aws:sts::*:assumed-role/On.all/*', ONCALL_SESSION, false],
    ['local:alice', 'local:alice', true],
    ['local:*', 'local:bob', true],
    ['local:alice', ONCALL_SESSION, false],
    ['arn:aws:sts::*:*', 'local:alice', false],
  ])('%s ~ %s -> %p', (pattern, principal, expected) => {
    expect(principalMatches(pattern, principal)).toBe(expected);
  });
});

describe('rolesFromPrincipal', () => {
  const plan = threePhasePlan({
    principals: {
      'arn:aws:sts::*:assumed-role/OnCall/*': ['on-call'],
      'arn:aws:sts::*:assumed-role/*/olga': ['pm', 'on-call'],
      'arn:aws:iam::123456789012:user/*': ['developer'],
    },
  });

  it('unions the roles of every matching pattern', () => {
    expect(rolesFromPrincipal(plan, ONCALL_SESSION).sort()).toEqual(['on-call', 'pm']);
    expect(rolesFromPrincipal(plan, 'arn:aws:iam::123456789012:user/dan')).toEqual(['developer']);
  });

  it('gives no role to a principal matching nothing, or when the plan maps none', () => {
    expect(rolesFromPrincipal(plan, 'arn:aws:iam::999999999999:user/dan')).toEqual([]);
    expect(rolesFromPrincipal(threePhasePlan(), ONCALL_SESSION)).toEqual([]);
  });
});

describe('principalName', () => {
  it.each([
    [ONCALL_SESSION, 'olga'],
    ['arn:aws:iam::123456789012:user/team/dan', 'dan'],
    ['arn:aws:sts::123456789012:federated-user/fran', 'fran'],
    ['arn:aws:iam::123456789012:root', 'root'],
    ['local:alice', 'alice'],
    ['arn:aws:iam::123456789012:role/Deployer', 'arn:aws:iam::123456789012:role/Deployer'],
  ])('%s -> %s', (principal, name) => {
    expect(principalName(principal)).toBe(name);
  });
});
