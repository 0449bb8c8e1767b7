import {
  isAutomatedSnapshotId,
  isExportSlotUnavailable,
  isExportUnsupported,
} from '../../../../lambdas/shared/adapters/rds';
import { awsError } from '../../../support/fake-rds';

describe('Module: rds adapter', () => {
  describe('Function: isAutomatedSnapshotId', () => {
    it.each([
      ['rds:orders-2026-05-15-09-10', true],
      ['arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2026-05-15-09-10', true],
      ['sim-tmp-orders-202605150910-93f418', false],
      ['arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:orders-manual', false],
    ])('tells %s as automated: %s', (id, expected) => {
      expect(isAutomatedSnapshotId(id)).toBe(expected);
    });
  });

  describe('Function: isExportSlotUnavailable', () => {
    it.each([
      ['ExportTaskLimitReachedFault', 'You have reached the limit of 5 concurrent export tasks'],
      ['ExportTaskLimitReachedFault', 'limit reached'],
      ['RDSServiceException', 'You have reached the limit of 7 concurrent export tasks.'],
    ])('recognises %s: %s as no free export slot', (name, message) => {
      expect(isExportSlotUnavailable(awsError(name, message))).toBe(true);
    });

    it.each([
      ['ThrottlingException', 'Rate exceeded'],
      ['SnapshotQuotaExceededFault', 'Cannot create more than 100 manual snapshots'],
      ['LimitExceededException', 'Resource limit exceeded'],
      ['InvalidExportSourceStateFault', 'quota'],
    ])('does not take %s: %s for the export slot limit', (name, message) => {
      expect(isExportSlotUnavailable(awsError(name, message))).toBe(false);
    });
  });

  describe('Function: isExportUnsupported', () => {
    it.each([
      ['InvalidParameterValue', 'Export of Aurora Serverless v1 snapshots is not supported.'],
      ['InvalidExportSourceStateFault', 'The snapshot of a cluster in engine mode serverless cannot be exported.'],
      ['InvalidParameterCombination', 'Exporting this snapshot is not supported'],
    ])('recognises %s: %s as a snapshot that only the restore path can export', (name, message) => {
      expect(isExportUnsupported(awsError(name, message))).toBe(true);
    });

    it.each([
      ['InvalidParameterValue', 'The parameter ExportTaskIdentifier is not a valid identifier.'],
      ['InvalidExportSourceStateFault', 'DBClusterSnapshot sim-tmp-x is creating'],
      ['KMSKeyNotAccessibleFault', 'The key is not supported'],
      ['UnsupportedOperation', 'not supported'],
      ['ExportTaskLimitReachedFault', 'You have reached the limit of 5 concurrent export tasks'],
    ])('does not take %s: %s for an unsupported snapshot', (name, message) => {
      expect(isExportUnsupported(awsError(name, message))).toBe(false);
    });
  });
});
