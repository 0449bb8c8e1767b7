import { parseConfig } from '../../config/load';
import type { PipelineConfigInput } from '../../config/schema';
import { exampleEnvironment } from '../support/example-config';
import {
  BUCKET_PLACEHOLDER,
  clientPolicyStatements,
  destinationObjectPrefixes,
  type PolicyStatement,
} from '../../modules/client-policy';

const COPY_ROLE = 'arn:aws:iam::123456789012:role/aurora-export-copy';
const AP = 'arn:aws:s3:eu-west-1:210987654321:accesspoint/me3-datalake';

function configWith(destination: Partial<PipelineConfigInput['destination']>, replace = false) {
  const example = exampleEnvironment();
  return parseConfig({
    ...example,
    destination: replace ? destination : { ...example.destination, ...destination },
  });
}

function only(statements: readonly PolicyStatement[] | undefined): PolicyStatement {
  expect(statements).toHaveLength(1);
  return (statements as readonly PolicyStatement[])[0];
}

describe('Function: destinationObjectPrefixes', () => {
  it('fills in each cluster and cuts at the first per-run placeholder', () => {
    expect(destinationObjectPrefixes('me3/{cluster}/{dt}', ['b-cluster', 'a-cluster'])).toEqual([
      'me3/a-cluster/*',
      'me3/b-cluster/*',
    ]);
  });

  it('grants the whole key space when the template starts with a per-run placeholder', () => {
    expect(destinationObjectPrefixes('{date}/{cluster}', ['a', 'b'])).toEqual(['*']);
  });

  it('adds a separator after a template without placeholders', () => {
    expect(destinationObjectPrefixes('exports/static', ['a'])).toEqual(['exports/static/*']);
    expect(destinationObjectPrefixes('exports/', ['a'])).toEqual(['exports/*']);
  });

  it('writes keys as the copy stage does: no leading slash, no empty segment', () => {
    expect(destinationObjectPrefixes('/lake//{cluster}/{date}', ['a'])).toEqual(['lake/a/*']);
  });

  it('grants the lowercase spelling RDS reports as well as the configured one', () => {
    expect(destinationObjectPrefixes('lake/{cluster}/{date}', ['Orders'])).toEqual(['lake/Orders/*', 'lake/orders/*']);
  });

  it('keeps a cluster placeholder that ends the template as its own folder', () => {
    expect(destinationObjectPrefixes('lake/{cluster}', ['orders'])).toEqual(['lake/orders/*']);
  });
});

describe('Function: clientPolicyStatements', () => {
  describe('given an access point destination with a client KMS key', () => {
    const config = configWith({});
    const result = clientPolicyStatements({ config, copyRoleArn: COPY_ROLE });

    it('grants the copy role write actions on the access point objects under each cluster prefix only', () => {
      const s = only(result.accessPointPolicy?.Statement);
      expect(s.Principal).toEqual({ AWS: COPY_ROLE });
      expect(s.Action).toEqual(['s3:PutObject', 's3:AbortMultipartUpload']);
      expect(s.Resource).toEqual([`${AP}/object/me3/me3-serverless/*`, `${AP}/object/me3/orders-provisioned/*`]);
      expect(s.Condition).toBeUndefined();
    });

    it('delegates the bucket to requests made through this access point only', () => {
      const s = only(result.bucketPolicy.Statement);
      expect(s.Condition).toEqual({ StringEquals: { 's3:DataAccessPointArn': AP } });
      expect(s.Resource).toEqual([
        `arn:aws:s3:::${BUCKET_PLACEHOLDER}/me3/me3-serverless/*`,
        `arn:aws:s3:::${BUCKET_PLACEHOLDER}/me3/orders-provisioned/*`,
      ]);
      expect(result.notes.join('\n')).toContain(BUCKET_PLACEHOLDER);
    });

    it('names the bucket behind the access point when it is given', () => {
      const named = clientPolicyStatements({ config, copyRoleArn: COPY_ROLE, destinationBucketName: 'client-lake' });
      expect(only(named.bucketPolicy.Statement).Resource).toContain('arn:aws:s3:::client-lake/me3/me3-serverless/*');
      expect(named.notes.join('\n')).not.toContain(BUCKET_PLACEHOLDER);
    });

    it('lets the key be used only through S3 in the access point region, for data keys and multipart assembly', () => {
      const s = only(result.kmsKeyPolicy?.Statement);
      expect(s.Action).toEqual(['kms:GenerateDataKey', 'kms:Decrypt']);
      expect(s.Principal).toEqual({ AWS: COPY_ROLE });
      expect(s.Condition).toEqual({ StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } });
    });

    it('never grants a wildcard action', () => {
      const all = [result.accessPointPolicy, result.bucketPolicy, result.kmsKeyPolicy].flatMap(
        (d) => d?.Statement ?? [],
      );
      for (const s of all) {
        for (const a of ([] as string[]).concat(s.Action as string[])) expect(a).not.toMatch(/\*/);
      }
    });
  });

  it('adds s3:PutObjectAcl only when objects are written with bucket-owner-full-control', () => {
    const acl = clientPolicyStatements({
      config: configWith({ aclMode: 'bucket-owner-full-control' }),
      copyRoleArn: COPY_ROLE,
    });
    expect(only(acl.accessPointPolicy?.Statement).Action).toContain('s3:PutObjectAcl');
    expect(only(acl.bucketPolicy.Statement).Action).toContain('s3:PutObjectAcl');
  });

  it('writes only a bucket policy for a bucket destination without a key', () => {
    const config = configWith(
      { bucket: 'client-lake', expectedOwnerAccountId: '210987654321', keyPrefixTemplate: 'raw/{cluster}/{date}' },
      true,
    );
    const result = clientPolicyStatements({ config, copyRoleArn: COPY_ROLE });
    expect(result.accessPointPolicy).toBeUndefined();
    expect(result.kmsKeyPolicy).toBeUndefined();
    const s = only(result.bucketPolicy.Statement);
    expect(s.Resource).toEqual([
      'arn:aws:s3:::client-lake/raw/me3-serverless/*',
      'arn:aws:s3:::client-lake/raw/orders-provisioned/*',
    ]);
    expect(s.Condition).toBeUndefined();
  });

  it('takes the S3 region for kms:ViaService from the key when there is no access point', () => {
    const config = configWith(
      {
        bucket: 'client-lake',
        expectedOwnerAccountId: '210987654321',
        kmsKeyArn: 'arn:aws:kms:us-east-2:210987654321:key/abc-123',
      },
      true,
    );
    const s = only(clientPolicyStatements({ config, copyRoleArn: COPY_ROLE }).kmsKeyPolicy?.Statement);
    expect(s.Condition).toEqual({ StringEquals: { 'kms:ViaService': 's3.us-east-2.amazonaws.com' } });
  });

  it('places a Terraform token for the role verbatim', () => {
    const token = '${aws_iam_role.copy.arn}';
    const result = clientPolicyStatements({ config: configWith({}), copyRoleArn: token });
    expect(only(result.accessPointPolicy?.Statement).Principal).toEqual({ AWS: token });
    expect(only(result.kmsKeyPolicy?.Statement).Principal).toEqual({ AWS: token });
  });
});
