import { RDSClient } from '@aws-sdk/client-rds';
import { RdsGateway } from '../../lambdas/shared/adapters/rds';
import { FakeRds } from './fake-rds';
import { checkRdsRequest, documentedScopes, loadRdsModel, scopeIncludesAurora } from './rds-model';

const AUTOMATED_ID = 'rds:orders-2026-05-15-09-10';
const AUTOMATED_ARN = `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${AUTOMATED_ID}`;

/** The restore request the start stage sent before it dropped PubliclyAccessible. */
const OLD_RESTORE = {
  DBClusterIdentifier: 'sim-tmp-orders-202605150910-93f418',
  SnapshotIdentifier: AUTOMATED_ARN,
  Engine: 'aurora-postgresql',
  EngineVersion: '11.21',
  EngineMode: 'provisioned',
  DBSubnetGroupName: 'private-db-subnets',
  VpcSecurityGroupIds: ['sg-0123456789abcdef0'],
  DeletionProtection: false,
  PubliclyAccessible: false,
  CopyTagsToSnapshot: false,
  Tags: [{ Key: 'managed-by', Value: 'sim' }],
};

describe('Module: rds-model (request rules read from the installed @aws-sdk/client-rds)', () => {
  describe('Function: loadRdsModel', () => {
    it('reads every operation of the client with its input members', () => {
      const model = loadRdsModel();
      expect(model.size).toBeGreaterThan(100);
      expect([...(model.get('StartExportTask')?.keys() ?? [])]).toEqual(
        expect.arrayContaining(['ExportTaskIdentifier', 'SourceArn', 'S3BucketName', 'IamRoleArn', 'KmsKeyId']),
      );
    });

    it('reads the Valid for line of each member, including where operations disagree', () => {
      const scopes = documentedScopes(loadRdsModel(), 'RestoreDBClusterFromSnapshot', 'PubliclyAccessible');
      expect(scopes).toEqual(
        expect.arrayContaining([
          { operation: 'RestoreDBClusterFromSnapshot', validFor: 'Aurora DB clusters and Multi-AZ DB clusters' },
          { operation: 'CreateDBCluster', validFor: 'Multi-AZ DB clusters only' },
          { operation: 'RestoreDBClusterToPointInTime', validFor: 'Multi-AZ DB clusters only' },
        ]),
      );
    });

    it('reads companion and exclusion sentences as rules on other members', () => {
      const member = loadRdsModel().get('DescribeDBClusterSnapshots')?.get('DBClusterSnapshotIdentifier');
      expect(member?.companions).toEqual([
        {
          member: 'SnapshotType',
          sentence:
            'If this identifier is for an automated snapshot, the SnapshotType parameter must also be specified.',
        },
      ]);
      expect(member?.exclusions.map((x) => x.member)).toEqual(['DBClusterIdentifier']);
    });
  });

  describe('Function: scopeIncludesAurora', () => {
    it.each([
      ['Aurora DB clusters and Multi-AZ DB clusters', true],
      ['Aurora DB clusters only', true],
      ['Multi-AZ DB clusters only', false],
      ['Aurora PostgreSQL clusters', false],
      ['Aurora MySQL DB clusters only', false],
      ['Aurora Serverless v1 DB clusters only', false],
    ])('reads "%s" as valid for every Aurora DB cluster: %s', (scope, expected) => {
      expect(scopeIncludesAurora(scope)).toBe(expected);
    });
  });

  describe('Function: checkRdsRequest', () => {
    it('refuses the old restore request: PubliclyAccessible is documented for Multi-AZ DB clusters only elsewhere', () => {
      const violations = checkRdsRequest('RestoreDBClusterFromSnapshot', OLD_RESTORE);
      expect(violations.map((v) => v.member)).toEqual(['PubliclyAccessible', 'PubliclyAccessible']);
      expect(violations[0].rule).toMatch(/Valid for: Multi-AZ DB clusters only/);
      const { PubliclyAccessible: _dropped, ...fixed } = OLD_RESTORE;
      expect(checkRdsRequest('RestoreDBClusterFromSnapshot', fixed)).toEqual([]);
    });

    it.each([AUTOMATED_ID, AUTOMATED_ARN])(
      'refuses a DescribeDBClusterSnapshots of the automated snapshot %s without SnapshotType',
      (id) => {
        expect(checkRdsRequest('DescribeDBClusterSnapshots', { DBClusterSnapshotIdentifier: id })).toEqual([
          expect.objectContaining({
            member: 'DBClusterSnapshotIdentifier',
            rule: expect.stringMatching(/SnapshotType/),
          }),
        ]);
        expect(
          checkRdsRequest('DescribeDBClusterSnapshots', { DBClusterSnapshotIdentifier: id, SnapshotType: 'automated' }),
        ).toEqual([]);
      },
    );

    it('lets a manual snapshot be described by id alone, since the condition of the rule does not hold', () => {
      expect(checkRdsRequest('DescribeDBClusterSnapshots', { DBClusterSnapshotIdentifier: 'sim-tmp-x' })).toEqual([]);
    });

    it('refuses members excluded together, Multi-AZ-only members, unknown members and unknown operations', () => {
      expect(
        checkRdsRequest('DescribeDBClusterSnapshots', { DBClusterIdentifier: 'a', DBClusterSnapshotIdentifier: 'b' }),
      ).toHaveLength(2);
      const multiAz = checkRdsRequest('RestoreDBClusterFromSnapshot', {
        ...OLD_RESTORE,
        PubliclyAccessible: undefined,
        DBClusterInstanceClass: 'db.r6gd.large',
      });
      expect(multiAz.length).toBeGreaterThan(0);
      expect(new Set(multiAz.map((v) => v.member))).toEqual(new Set(['DBClusterInstanceClass']));
      expect(checkRdsRequest('StartExportTask', { ExportTaskIdentifier: 'x', Bogus: 1 })).toEqual([
        expect.objectContaining({ member: 'Bogus' }),
      ]);
      expect(checkRdsRequest('RestoreDBClusterFromNowhere', {})).toHaveLength(1);
    });
  });

  describe('Every request of the RDS adapter', () => {
    let fake: FakeRds;
    afterEach(() => fake?.restore());

    it('follows the model for every call the adapter makes', async () => {
      const now = () => new Date('2026-05-15T09:10:00Z');
      fake = new FakeRds({ s3: {} as never, now }).install();
      const snap = fake.addSourceSnapshot('orders', 'serverless', now());
      const rds = new RdsGateway(new RDSClient({ region: 'eu-west-1' }));
      const tags = [{ Key: 'managed-by', Value: 'sim' }];
      await rds.describeClusterSnapshot(snap.id);
      await rds.describeClusterSnapshot(snap.arn);
      await rds.newestAutomatedSnapshot('orders');
      await rds.describeCluster('orders');
      const { PubliclyAccessible: _dropped, ...restore } = OLD_RESTORE;
      await rds.restoreCluster({ ...restore, DBClusterIdentifier: 'sim-tmp-a', SnapshotIdentifier: snap.arn });
      await fake.tick();
      await rds.createClusterSnapshot('sim-tmp-a', 'sim-tmp-a', tags);
      await rds.describeClusterSnapshot('sim-tmp-a');
      await rds.listClusters('sim-tmp-');
      await rds.listManualSnapshots('sim-tmp-');
      const direct = fake.addSourceSnapshot('billing', 'provisioned', now());
      await rds.startExportTask({
        ExportTaskIdentifier: 'sim-tmp-a-x1',
        SourceArn: direct.arn,
        S3BucketName: 'sim-exports',
        S3Prefix: 'exports/a',
        IamRoleArn: 'arn:aws:iam::123456789012:role/sim-export',
        KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
        ExportOnly: ['orders.public.orders'],
      });
      await rds.describeExportTask('sim-tmp-a-x1');
      await rds.cancelExportTask('sim-tmp-a-x1');
      await rds.deleteCluster('sim-tmp-a');
      await fake.tick();
      await rds.deleteClusterSnapshot('sim-tmp-a');
      expect(fake.modelViolations).toEqual([]);
      expect(new Set(fake.calls.map((c) => c.command))).toEqual(
        new Set([
          'DescribeDBClusterSnapshots',
          'DescribeDBClusters',
          'RestoreDBClusterFromSnapshot',
          'CreateDBClusterSnapshot',
          'StartExportTask',
          'DescribeExportTasks',
          'CancelExportTask',
          'DeleteDBCluster',
          'DeleteDBClusterSnapshot',
        ]),
      );
    });
  });
});
