import { classifyCopyError, type CopyCallContext } from '../../../../lambdas/shared/copy/permanent-errors';

const ap = 'arn:aws:s3:eu-west-1:210987654321:accesspoint/lake';
const clientKey = 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b';
const exportKey = 'arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-1111-2222-3333-444455556666';
const role = 'arn:aws:sts::123456789012:assumed-role/aurora-export-copy/aurora-export-copy';

const ctx = (over: Partial<CopyCallContext> = {}): CopyCallContext => ({
  action: 's3:PutObject',
  side: 'both',
  key: 'exports/orders/2024-03-07/orders/public.orders/1/part-0.gz.parquet',
  principal: role,
  destination: { bucketOrAccessPoint: ap, ownerAccountId: '210987654321', kmsKeyArn: clientKey },
  source: { bucket: 'aurora-export-exports', ownerAccountId: '123456789012', kmsKeyArn: exportKey },
  ...over,
});
const s3Error = (name: string, message: string, status: number) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe('Function: classifyCopyError', () => {
  it('names principal, action, object and both access point and bucket policies for AccessDenied through an access point', () => {
    const failure = classifyCopyError(s3Error('AccessDenied', 'Access Denied', 403), ctx());
    expect(failure?.reason).toBe('AccessDenied');
    expect(failure?.message).toContain(role);
    expect(failure?.message).toContain('s3:PutObject');
    expect(failure?.message).toContain(
      `${ap}/object/exports/orders/2024-03-07/orders/public.orders/1/part-0.gz.parquet`,
    );
    expect(failure?.message).toContain(`access point policy of ${ap}`);
    expect(failure?.message).toContain('bucket policy of the bucket behind it (account 210987654321)');
    expect(failure?.message).toContain(`key policy of the client's KMS key ${clientKey}`);
  });

  it('takes principal, action and resource from the AWS message when it carries them', () => {
    const message = `User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: s3:PutObject on resource: "${ap}/object/k" because no resource-based policy allows the s3:PutObject action`;
    const failure = classifyCopyError(s3Error('AccessDenied', message, 403), ctx());
    expect(failure?.principal).toBe('arn:aws:sts::123456789012:assumed-role/r/s');
    expect(failure?.resource).toBe(`${ap}/object/k`);
    expect(failure?.message).toContain('arn:aws:sts::123456789012:assumed-role/r/s');
  });

  it('names the bucket policy when the destination is a bucket', () => {
    const failure = classifyCopyError(
      s3Error('AccessDenied', 'Access Denied', 403),
      ctx({ destination: { bucketOrAccessPoint: 'client-lake', ownerAccountId: '210987654321' } }),
    );
    expect(failure?.message).toContain('bucket policy of client-lake (account 210987654321)');
    expect(failure?.resource).toBe(
      'arn:aws:s3:::client-lake/exports/orders/2024-03-07/orders/public.orders/1/part-0.gz.parquet',
    );
  });

  it('blames the role and export bucket policy when reading the export is denied', () => {
    const failure = classifyCopyError(
      s3Error('AccessDenied', 'Access Denied', 403),
      ctx({ side: 'source', action: 's3:ListBucket', key: undefined }),
    );
    expect(failure?.action).toBe('s3:ListBucket');
    expect(failure?.message).toContain('arn:aws:s3:::aurora-export-exports');
    expect(failure?.message).toContain("copy function's role policy");
  });

  it('names the client KMS key policy when SSE-KMS is denied', () => {
    const message = `User: ${role} is not authorized to perform: kms:GenerateDataKey on resource: ${clientKey} because no identity-based policy allows the kms:GenerateDataKey action`;
    const failure = classifyCopyError(s3Error('AccessDenied', message, 403), ctx());
    expect(failure?.reason).toBe('KmsDenied');
    expect(failure?.action).toBe('kms:GenerateDataKey');
    expect(failure?.resource).toBe(clientKey);
    expect(failure?.message).toContain(`key policy of the client's KMS key ${clientKey}`);
    expect(failure?.message).toContain(role);
  });

  it('names the export key when decrypting the source is denied', () => {
    const failure = classifyCopyError(
      s3Error('KMS.AccessDeniedException', 'kms:Decrypt denied', 403),
      ctx({ side: 'source', action: 's3:GetObject' }),
    );
    expect(failure?.reason).toBe('KmsDenied');
    expect(failure?.action).toBe('kms:Decrypt');
    expect(failure?.message).toContain(exportKey);
  });

  it("names the client's key when kms:Decrypt on it is denied while completing a multipart copy", () => {
    const message = `User: ${role} is not authorized to perform: kms:Decrypt on resource: ${clientKey} because no resource-based policy allows the kms:Decrypt action`;
    const failure = classifyCopyError(
      s3Error('AccessDenied', message, 403),
      ctx({ side: 'destination', action: 's3:CompleteMultipartUpload' }),
    );
    expect(failure?.reason).toBe('KmsDenied');
    expect(failure?.action).toBe('kms:Decrypt');
    expect(failure?.resource).toBe(clientKey);
    expect(failure?.message).toContain(`key policy of the client's KMS key ${clientKey}`);
    expect(failure?.message).not.toContain('export key');
  });

  it('says which setting to check when the destination does not exist', () => {
    const failure = classifyCopyError(s3Error('NoSuchBucket', 'The specified bucket does not exist', 404), ctx());
    expect(failure?.reason).toBe('NoSuchBucket');
    expect(failure?.message).toContain(ap);
    expect(failure?.message).toContain('destination.accessPointArn');
    expect(failure?.message).toContain(role);
    expect(failure?.message).toContain('access point policy');
  });

  it('reports a bucket owned by another account', () => {
    const failure = classifyCopyError(
      s3Error('InvalidBucketOwnerAWSAccountID', 'The expected bucket owner does not match', 400),
      ctx(),
    );
    expect(failure?.reason).toBe('WrongBucketOwner');
    expect(failure?.message).toContain('not owned by account 210987654321');
    expect(failure?.message).toContain('destination.expectedOwnerAccountId');
    expect(failure?.message).toContain(role);
  });

  it('leaves throttling, server errors and timeouts to the retries', () => {
    expect(classifyCopyError(s3Error('SlowDown', 'Please reduce your request rate', 503), ctx())).toBeUndefined();
    expect(classifyCopyError(s3Error('InternalError', 'We encountered an internal error', 500), ctx())).toBeUndefined();
    expect(classifyCopyError(s3Error('TimeoutError', 'socket hang up', 0), ctx())).toBeUndefined();
    expect(classifyCopyError('not an error', ctx())).toBeUndefined();
  });
});
