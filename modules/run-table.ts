import { Construct } from 'constructs';
import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table';
import { RunTableLayout } from '../lambdas/shared/contracts/table-layout';
import type { AwsContext } from './aws-context';
import { allow, type Statement } from './iam';

/** Props of {@link RunTable}. */
export interface RunTableProps {
  readonly namePrefix: string;
  /** Key the table is encrypted with. */
  readonly kmsKeyArn: string;
  /** Where the table's ARN is built for policies. */
  readonly aws: AwsContext;
}

/**
 * Item-level actions the stage functions take on the run table: read a run or batch, record one
 * (conditional put), move it on (conditional update), query the indexes. No batch or transactional calls,
 * no deletes (TTL expires items), no scans, no table management.
 */
export const RUN_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;

/**
 * The run table, laid out by `lambdas/shared/contracts/table-layout.ts`: one partition per run, the two sparse indexes
 * the engine queries, TTL on finished runs, on-demand capacity, point-in-time recovery, deletion protection,
 * encrypted with our key.
 */
export class RunTable extends Construct {
  public readonly table: DynamodbTable;
  public readonly tableName: string;
  public readonly tableArn: string;
  /** The table's ARN built from its name: known at plan, for the policies that name it. */
  private readonly policyArn: string;

  constructor(scope: Construct, id: string, props: RunTableProps) {
    super(scope, id);
    const L = RunTableLayout;
    const stringAttributes = [
      L.partitionKey,
      L.sortKey,
      L.bySourceSnapshotIndex.partitionKey,
      L.bySourceSnapshotIndex.sortKey,
      L.byStageIndex.partitionKey,
      L.byStageIndex.sortKey,
    ];
    this.table = new DynamodbTable(this, 'table', {
      name: `${props.namePrefix}-runs`,
      billingMode: 'PAY_PER_REQUEST',
      hashKey: L.partitionKey,
      rangeKey: L.sortKey,
      attribute: stringAttributes.map((name) => ({ name, type: 'S' })),
      globalSecondaryIndex: [L.bySourceSnapshotIndex, L.byStageIndex].map((index) => ({
        name: index.name,
        hashKey: index.partitionKey,
        rangeKey: index.sortKey,
        projectionType: 'ALL',
      })),
      ttl: { attributeName: L.ttlAttribute, enabled: true },
      pointInTimeRecovery: { enabled: true },
      // The run history is data: DynamoDB refuses to delete a protected table, so a destroy or a plan that
      // would replace the table fails instead of erasing it. Retiring a pipeline turns it off on purpose.
      deletionProtectionEnabled: true,
      serverSideEncryption: { enabled: true, kmsKeyArn: props.kmsKeyArn },
    });
    this.tableName = this.table.name;
    this.tableArn = this.table.arn;
    this.policyArn = props.aws.dynamodbTable(`${props.namePrefix}-runs`);
  }

  /** Item reads and writes on the table and its indexes. */
  public grantReadWrite(): Statement {
    return allow('RunTableItems', [...RUN_TABLE_ACTIONS], [this.policyArn, `${this.policyArn}/index/*`]);
  }
}
