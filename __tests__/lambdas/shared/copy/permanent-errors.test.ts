import {
  classifyCopyError,
  parseAuthorizationMessage,
  s3ResourceArn,
  type CopyCallContext,
} from '../../../../lambdas/shared/copy/permanent-errors';

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

describe('Function: classifyCopyError, which side', () => {
  const bucketDestination = { bucketOrAccessPoint: 'client-lake', ownerAccountId: '210987654321' };
  const denied = (action: string, resource: string) =>
    s3Error(
      'AccessDenied',
      `User: ${role} is not authorized to perform: ${action} on resource: "${resource}" because no identity-based policy allows the ${action} action`,
      403,
    );

  it('blames the reading side when the AWS message names a read of the export during a copy', () => {
    const failure = classifyCopyError(denied('s3:GetObject', 'arn:aws:s3:::aurora-export-exports/x/1.parquet'), ctx());
    expect(failure).toEqual({
      reason: 'AccessDenied',
      principal: role,
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::aurora-export-exports/x/1.parquet',
      policies: ["the copy function's role policy", 'the export bucket policy of aurora-export-exports'],
      message: `s3:GetObject by ${role} on arn:aws:s3:::aurora-export-exports/x/1.parquet was denied (AccessDenied): the copy function's role policy and the export bucket policy of aurora-export-exports must allow it.`,
    });
  });

  it.each(['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket'])(
    'blames the reading side when the AWS message names %s during a copy',
    (action) => {
      const failure = classifyCopyError(denied(action, 'arn:aws:s3:::aurora-export-exports'), ctx());
      expect(failure).toMatchObject({
        action,
        policies: ["the copy function's role policy", 'the export bucket policy of aurora-export-exports'],
      });
    },
  );

  it('says AccessDenied for a bare 403 on the reading side', () => {
    const bare = { message: 'Forbidden', $metadata: { httpStatusCode: 403 } };
    expect(classifyCopyError(bare, ctx({ side: 'source', action: 's3:GetObject' }))?.message).toContain(
      'was denied (AccessDenied): ',
    );
  });

  it('names the export object and the read action when reading the export is denied without details', () => {
    const failure = classifyCopyError(
      s3Error('AccessDenied', 'Access Denied', 403),
      ctx({ side: 'source', action: 's3:GetObject', key: 'k/1.parquet' }),
    );
    expect(failure).toMatchObject({
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::aurora-export-exports/k/1.parquet',
      policies: ["the copy function's role policy", 'the export bucket policy of aurora-export-exports'],
    });
  });

  it('words a denied write with every destination policy, the owner check and, for a copy, the read it needs', () => {
    const failure = classifyCopyError(s3Error('AccessDenied', 'Access Denied', 403), ctx({ key: 'k/1.parquet' }));
    expect(failure).toEqual({
      reason: 'AccessDenied',
      principal: role,
      action: 's3:PutObject',
      resource: `${ap}/object/k/1.parquet`,
      policies: [
        `the access point policy of ${ap}`,
        "the bucket policy of the bucket behind it (account 210987654321), directly or by delegating access control to the account's access points",
        `the key policy of the client's KMS key ${clientKey} (kms:GenerateDataKey and kms:Decrypt)`,
      ],
      message:
        `s3:PutObject by ${role} on ${ap}/object/k/1.parquet was denied (AccessDenied). ` +
        `The access point policy of ${ap}, and the bucket policy of the bucket behind it (account 210987654321), directly or by delegating access control to the account's access points, ` +
        `and the key policy of the client's KMS key ${clientKey} (kms:GenerateDataKey and kms:Decrypt) must allow s3:PutObject for ${role}` +
        '; S3 also answers AccessDenied when the bucket is not owned by account 210987654321 (ExpectedBucketOwner)' +
        ', or when the copy function cannot read arn:aws:s3:::aurora-export-exports (s3:GetObject, allowed by its role policy).',
    });
  });

  it('leaves the read out of a denied call that only writes', () => {
    const failure = classifyCopyError(s3Error('AccessDenied', 'Access Denied', 403), ctx({ side: 'destination' }));
    expect(failure?.message).toMatch(/ \(ExpectedBucketOwner\)\.$/);
    expect(failure?.message).not.toContain('cannot read');
  });

  it('leaves the read out when the AWS message names the destination action that was denied', () => {
    const failure = classifyCopyError(denied('s3:PutObject', `${ap}/object/k`), ctx());
    expect(failure?.message).toMatch(/ \(ExpectedBucketOwner\)\.$/);
  });

  it('treats a bare 403 and the other denial codes as access denied', () => {
    const bare = { message: 'Forbidden', $metadata: { httpStatusCode: 403 } };
    expect(classifyCopyError(bare, ctx())?.message).toContain('was denied (AccessDenied).');
    for (const code of ['AccessDeniedException', 'AllAccessDisabled'])
      expect(classifyCopyError(s3Error(code, 'no', 403), ctx())).toMatchObject({ reason: 'AccessDenied' });
    expect(classifyCopyError(s3Error('AllAccessDisabled', 'no', 403), ctx())?.message).toContain('(AllAccessDisabled)');
  });

  it('reads the error code from Code before name', () => {
    const error = {
      name: 'S3ServiceException',
      Code: 'AccessDenied',
      message: 'Access Denied',
      $metadata: { httpStatusCode: 403 },
    };
    expect(classifyCopyError(error, ctx())?.reason).toBe('AccessDenied');
  });

  it('leaves a 403 with another code, and a non-object, to the retries', () => {
    expect(classifyCopyError(s3Error('RequestTimeTooSkewed', 'skewed', 403), ctx())).toBeUndefined();
    expect(classifyCopyError(null, ctx())).toBeUndefined();
    expect(classifyCopyError(undefined, ctx())).toBeUndefined();
  });

  it('names the bucket of a missing destination bucket and only its bucket policy', () => {
    const failure = classifyCopyError(s3Error('NoSuchBucket', 'x', 404), ctx({ destination: bucketDestination }));
    expect(failure).toEqual({
      reason: 'NoSuchBucket',
      principal: role,
      action: 's3:PutObject',
      resource: 'arn:aws:s3:::client-lake',
      policies: ['the bucket policy of client-lake (account 210987654321)'],
      message: `s3:PutObject by ${role} failed: arn:aws:s3:::client-lake does not exist (NoSuchBucket). Check destination.bucket in the configuration; once it exists, the bucket policy of client-lake (account 210987654321) must allow s3:PutObject for ${role}.`,
    });
  });

  it('names a missing access point, without the KMS key policy', () => {
    const failure = classifyCopyError(s3Error('NoSuchAccessPoint', 'x', 404), ctx());
    expect(failure).toMatchObject({ reason: 'NoSuchBucket', resource: ap });
    expect(failure?.policies).toEqual([
      `the access point policy of ${ap}`,
      "the bucket policy of the bucket behind it (account 210987654321), directly or by delegating access control to the account's access points",
    ]);
    expect(failure?.message).toContain('does not exist (NoSuchAccessPoint). Check destination.accessPointArn');
  });

  it('says to redeploy when the export bucket is missing', () => {
    const failure = classifyCopyError(
      s3Error('NoSuchBucket', 'x', 404),
      ctx({ side: 'source', action: 's3:ListBucket', key: undefined }),
    );
    expect(failure).toEqual({
      reason: 'NoSuchBucket',
      principal: role,
      action: 's3:ListBucket',
      resource: 'arn:aws:s3:::aurora-export-exports',
      policies: ['the export bucket aurora-export-exports'],
      message: `s3:ListBucket by ${role} failed: arn:aws:s3:::aurora-export-exports does not exist (NoSuchBucket). The export bucket is part of this stack; redeploy it.`,
    });
  });
});

describe('Function: classifyCopyError, owner mismatch', () => {
  it('names the access point, the account it should belong to and the settings to check', () => {
    const failure = classifyCopyError(
      s3Error('InvalidBucketOwnerAWSAccountID', 'The expected bucket owner does not match', 400),
      ctx(),
    );
    expect(failure).toEqual({
      reason: 'WrongBucketOwner',
      principal: role,
      action: 's3:PutObject',
      resource: ap,
      policies: ['destination.accessPointArn and destination.expectedOwnerAccountId in the configuration'],
      message: `s3:PutObject by ${role} on ${ap} was refused because the bucket is not owned by account 210987654321 (ExpectedBucketOwner). Check destination.accessPointArn and destination.expectedOwnerAccountId in the configuration: the pipeline only writes to a bucket owned by the configured account.`,
    });
  });

  it('points at destination.bucket when the destination is a bucket', () => {
    const failure = classifyCopyError(
      s3Error('InvalidBucketOwnerAWSAccountID', 'mismatch', 400),
      ctx({ destination: { bucketOrAccessPoint: 'client-lake', ownerAccountId: '210987654321' } }),
    );
    expect(failure).toMatchObject({
      resource: 'arn:aws:s3:::client-lake',
      policies: ['destination.bucket and destination.expectedOwnerAccountId in the configuration'],
    });
  });

  it('recognises the mismatch by its message, whatever the code, and names the export bucket on the reading side', () => {
    const failure = classifyCopyError(
      s3Error('AccessDenied', 'The Expected Source Bucket Owner does not match', 403),
      ctx({ side: 'source', action: 's3:GetObject' }),
    );
    expect(failure).toMatchObject({
      reason: 'WrongBucketOwner',
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::aurora-export-exports',
      policies: ['the export bucket aurora-export-exports'],
    });
    expect(failure?.message).toContain(
      'not owned by account 123456789012 (ExpectedBucketOwner). Check the export bucket',
    );
    expect(classifyCopyError(s3Error('AccessDenied', 'expected bucket owner mismatch', 403), ctx())?.reason).toBe(
      'WrongBucketOwner',
    );
  });
});

describe('Function: classifyCopyError, whose KMS key', () => {
  const kmsDenied = (action: string, key?: string) =>
    s3Error(
      'AccessDenied',
      `User: ${role} is not authorized to perform: ${action}${key ? ` on resource: ${key}` : ''} because no resource-based policy allows the ${action} action`,
      403,
    );

  it('words a denied decrypt of the export with the export key and the role policy', () => {
    const failure = classifyCopyError(
      s3Error('KMS.AccessDeniedException', 'kms:Decrypt denied', 403),
      ctx({ side: 'source', action: 's3:GetObject', key: 'k/1.parquet' }),
    );
    expect(failure).toEqual({
      reason: 'KmsDenied',
      principal: role,
      action: 'kms:Decrypt',
      resource: exportKey,
      policies: [`the key policy of the export key ${exportKey} and the copy function's role policy (kms:Decrypt)`],
      message: `kms:Decrypt by ${role} on ${exportKey} was denied (KMS.AccessDeniedException) while copying k/1.parquet out of the export: the key policy of the export key ${exportKey} and the copy function's role policy (kms:Decrypt) must allow it.`,
    });
  });

  it("words a denied data key of the client's key with the client key policy and the role policy", () => {
    const failure = classifyCopyError(kmsDenied('kms:GenerateDataKey', clientKey), ctx({ key: 'k/1.parquet' }));
    expect(failure).toEqual({
      reason: 'KmsDenied',
      principal: role,
      action: 'kms:GenerateDataKey',
      resource: clientKey,
      policies: [
        `the key policy of the client's KMS key ${clientKey} (kms:GenerateDataKey and kms:Decrypt)`,
        "the copy function's role policy",
      ],
      message: `kms:GenerateDataKey by ${role} on ${clientKey} was denied (AccessDenied) while copying k/1.parquet to the destination: the key policy of the client's KMS key ${clientKey} (kms:GenerateDataKey and kms:Decrypt), and the copy function's role policy must allow it.`,
    });
  });

  it('blames the export key when the denied key is named and is not the client key, even on a write', () => {
    const failure = classifyCopyError(kmsDenied('kms:Decrypt', exportKey), ctx({ side: 'destination' }));
    expect(failure).toMatchObject({ action: 'kms:Decrypt', resource: exportKey });
    expect(failure?.message).toContain('out of the export');
  });

  it('blames the export key for an unnamed kms:Decrypt during a copy', () => {
    const failure = classifyCopyError(kmsDenied('kms:Decrypt'), ctx());
    expect(failure).toMatchObject({ reason: 'KmsDenied', action: 'kms:Decrypt', resource: exportKey });
  });

  it("blames the client's key for an unnamed data key during a copy", () => {
    const failure = classifyCopyError(kmsDenied('kms:GenerateDataKey'), ctx());
    expect(failure).toMatchObject({ action: 'kms:GenerateDataKey', resource: clientKey });
  });

  it("blames the client's key for an unnamed kms:Decrypt on a write", () => {
    const failure = classifyCopyError(kmsDenied('kms:Decrypt'), ctx({ side: 'destination' }));
    expect(failure).toMatchObject({ action: 'kms:Decrypt', resource: clientKey });
    expect(failure?.message).toContain('to the destination');
  });

  it('takes a data key on the client key for a KMS error that names no action on a write', () => {
    const failure = classifyCopyError(
      s3Error('KMS.DisabledException', 'key disabled', 400),
      ctx({ side: 'destination' }),
    );
    expect(failure).toMatchObject({ reason: 'KmsDenied', action: 'kms:GenerateDataKey', resource: clientKey });
    expect(failure?.message).toContain('(KMS.DisabledException)');
  });

  it('says whose key it is when the configuration names none', () => {
    const toClient = classifyCopyError(
      s3Error('KMS.DisabledException', 'key disabled', 400),
      ctx({
        side: 'destination',
        key: undefined,
        destination: { bucketOrAccessPoint: 'client-lake', ownerAccountId: '210987654321' },
      }),
    );
    expect(toClient).toMatchObject({ action: 'kms:GenerateDataKey', resource: "the client's KMS key" });
    expect(toClient?.message).toBe(
      `kms:GenerateDataKey by ${role} on the client's KMS key was denied (KMS.DisabledException) while copying objects to the destination: ` +
        "the key policy of the client's KMS key (kms:GenerateDataKey and kms:Decrypt), and the copy function's role policy must allow it.",
    );
    const fromExport = classifyCopyError(
      s3Error('KMS.DisabledException', 'key disabled', 400),
      ctx({ side: 'source', source: { bucket: 'aurora-export-exports', ownerAccountId: '123456789012' } }),
    );
    expect(fromExport).toMatchObject({
      action: 'kms:Decrypt',
      resource: 'the export KMS key',
      policies: ["the key policy of the export key and the copy function's role policy (kms:Decrypt)"],
    });
  });

  it('reads a bare 403 mentioning KMS as a KMS denial', () => {
    const failure = classifyCopyError(
      { message: 'KMS said no', $metadata: { httpStatusCode: 403 } },
      ctx({ side: 'destination' }),
    );
    expect(failure).toMatchObject({ reason: 'KmsDenied', resource: clientKey });
    expect(failure?.message).toContain('was denied (KMS)');
  });

  it('leaves a throttled KMS call to the retries', () => {
    expect(classifyCopyError(s3Error('ThrottlingException', 'KMS rate exceeded', 400), ctx())).toBeUndefined();
  });
});

describe('Function: s3ResourceArn', () => {
  it('writes object and bucket ARNs for a bucket name and for an access point', () => {
    expect(s3ResourceArn('client-lake')).toBe('arn:aws:s3:::client-lake');
    expect(s3ResourceArn('client-lake', 'a/b')).toBe('arn:aws:s3:::client-lake/a/b');
    expect(s3ResourceArn(ap)).toBe(ap);
    expect(s3ResourceArn(ap, 'a/b')).toBe(`${ap}/object/a/b`);
  });
});

describe('Function: parseAuthorizationMessage', () => {
  it("reads principal, action and resource, quoted or not, from AWS's authorization message", () => {
    expect(
      parseAuthorizationMessage(
        `User: ${role} is not authorized to perform: s3:PutObject on resource: "${ap}/object/k" because no policy allows it`,
      ),
    ).toEqual({ principal: role, action: 's3:PutObject', resource: `${ap}/object/k` });
    expect(
      parseAuthorizationMessage(`User: ${role} is not authorized to perform: kms:Decrypt on resource: ${clientKey}`),
    ).toEqual({
      principal: role,
      action: 'kms:Decrypt',
      resource: clientKey,
    });
  });

  it('finds nothing in a message without them', () => {
    expect(parseAuthorizationMessage('Access Denied')).toEqual({
      principal: undefined,
      action: undefined,
      resource: undefined,
    });
  });
});
