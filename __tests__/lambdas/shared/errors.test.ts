import { isPermanentAwsError, isTransientAwsFault } from '../../../lambdas/shared/errors';
import { awsError } from '../../support/fake-rds';

describe('Module: errors', () => {
  describe('Function: isTransientAwsFault / isPermanentAwsError', () => {
    it.each([
      'InvalidDBClusterStateFault',
      'InvalidDBClusterSnapshotStateFault',
      'InvalidExportSourceStateFault',
      'InsufficientDBClusterCapacityFault',
      'InsufficientStorageClusterCapacityFault',
    ])('takes %s for a fault of the moment that the run waits out, not a failure', (name) => {
      const e = awsError(name, 'not now');
      expect(isTransientAwsFault(e)).toBe(true);
      expect(isPermanentAwsError(e)).toBe(false);
    });

    it.each(['ThrottlingException', 'Throttling', 'RequestLimitExceeded'])(
      'leaves %s to a redelivery, never failing the run',
      (name) => {
        expect(isPermanentAwsError(awsError(name, 'Rate exceeded'))).toBe(false);
      },
    );

    it('leaves server faults to a redelivery', () => {
      expect(isPermanentAwsError(awsError('InternalFailure', 'oops', 'server'))).toBe(false);
    });

    it.each([
      'DBClusterQuotaExceededFault',
      'KMSKeyNotAccessibleFault',
      'InvalidS3BucketFault',
      'DBSubnetGroupNotFoundFault',
    ])('fails the run on %s, which waiting does not fix', (name) => {
      const e = awsError(name, 'refused');
      expect(isTransientAwsFault(e)).toBe(false);
      expect(isPermanentAwsError(e)).toBe(true);
    });
  });
});
