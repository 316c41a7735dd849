import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { throwIfProblems } from './props-problems';

/** Props of {@link StateTable}. */
export interface StateTableProps {
  /**
   * Treat the table as production data: deletion protection on, and the table is retained when the stack is
   * deleted or the resource replaced.
   * @default - false: no deletion protection, and the table is destroyed with the stack
   */
  readonly production?: boolean;
}

/**
 * The DynamoDB table holding Phasegate's rollout state, approvals and audit trail: one partition per feature
 * (`pk` = `FEATURE#<feature>`, `sk` = `STATE` | `APPROVAL#...` | `AUDIT#...`, see `KEYS` in
 * `lambdas/core/contract.ts`). On-demand billing, point-in-time recovery and AWS-managed encryption.
 * No TTL and no streams: correctness never depends on either.
 */
export class StateTable extends Construct {
  /** The table. */
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    const problems: string[] = [];
    if (props.production !== undefined && typeof props.production !== 'boolean') {
      problems.push(`production: expected a boolean, got ${JSON.stringify(props.production)}`);
    }
    throwIfProblems(`StateTable ${this.node.path}`, problems);

    const production = props.production ?? false;
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: production,
      removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
  }
}
