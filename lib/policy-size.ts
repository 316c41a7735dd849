/**
 * A policy document's size as IAM counts it against a role's 10,240 characters of inline policy (IAM quotas page:
 * "IAM doesn't count white space when calculating the size of a policy"): the JSON as deployed, with references
 * resolved at their longest plausible (a long partition, Region and account, an ARN for each resource reference).
 */
export function policyCharsAtMost(document: unknown): number {
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('Ref' in o) {
        const ref = String(o.Ref);
        return ({ 'AWS::Partition': 'aws-us-gov', 'AWS::Region': 'ap-southeast-2', 'AWS::AccountId': '123456789012', 'AWS::URLSuffix': 'amazonaws.com' } as Record<string, string>)[ref] ?? `phasegate-prod-${ref}`;
      }
      if ('Fn::GetAtt' in o) return `arn:aws-us-gov:service:ap-southeast-2:123456789012:resource/${String((o['Fn::GetAtt'] as unknown[])[0])}`;
      if ('Fn::Join' in o) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map(resolve).map(String).join(sep);
      }
      if ('Fn::ImportValue' in o) return 'arn:aws-us-gov:service:ap-southeast-2:123456789012:imported-value-placeholder';
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
    }
    return v;
  };
  return JSON.stringify(resolve(document)).length;
}
