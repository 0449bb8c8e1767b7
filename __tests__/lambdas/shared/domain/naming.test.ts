import {
  MAX_RUN_ID_LENGTH,
  exportS3PrefixFor,
  exportTaskIdFor,
  isValidIdentifier,
  runIdFor,
  runIdFromTempId,
  tempResourceId,
} from '../../../../lambdas/shared/domain/naming';
import { NamingError } from '../../../../lambdas/shared/errors';

const LONGEST_PREFIX = 'abcdefghijklmnopqrst-tmp-';

describe('Module: naming', () => {
  describe('Function: runIdFor', () => {
    it('derives a readable, deterministic id from an automated snapshot', () => {
      const id = runIdFor('rds:orders-provisioned-2026-05-15-09-10');
      expect(id).toMatch(/^orders-provisioned-202605150910-[0-9a-f]{6}$/);
      expect(runIdFor('rds:orders-provisioned-2026-05-15-09-10')).toBe(id);
    });

    it('gives later attempts their own id', () => {
      const first = runIdFor('rds:c-2026-05-15-09-10');
      expect(runIdFor('rds:c-2026-05-15-09-10', 2)).toBe(`${first}-r2`);
    });

    it('shortens a long cluster name with a hash instead of truncating it into a collision', () => {
      const a = runIdFor(`rds:${'a'.repeat(60)}-one-2026-05-15-09-10`);
      const b = runIdFor(`rds:${'a'.repeat(60)}-two-2026-05-15-09-10`);
      expect(a).not.toBe(b);
      for (const id of [a, b]) {
        expect(id.length).toBeLessThanOrEqual(MAX_RUN_ID_LENGTH);
        expect(isValidIdentifier(id, MAX_RUN_ID_LENGTH)).toBe(true);
      }
    });

    it('keeps an automated and a manual snapshot with similar names apart', () => {
      expect(runIdFor('rds:c-2026-05-15-09-10')).not.toBe(runIdFor('c-2026-05-15-09-10'));
    });

    it('makes a valid id from a manual snapshot id that starts with a digit or has odd characters', () => {
      const id = runIdFor('2026--weird__Snapshot!!');
      expect(isValidIdentifier(id, MAX_RUN_ID_LENGTH)).toBe(true);
    });
  });

  describe('Function: tempResourceId', () => {
    it('fits the 63-character cluster limit with the longest prefix and run id', () => {
      const id = tempResourceId(LONGEST_PREFIX, runIdFor(`rds:${'x'.repeat(63)}-2026-05-15-09-10`, 99));
      expect(id.length).toBeLessThanOrEqual(63);
      expect(isValidIdentifier(id, 63)).toBe(true);
    });

    it('refuses a prefix longer than the identifier budget', () => {
      expect(() => tempResourceId(`${'a'.repeat(30)}-tmp-`, 'r')).toThrow(NamingError);
    });

    it('maps a temporary resource back to its run, and ignores foreign ones', () => {
      expect(runIdFromTempId('p-tmp-', tempResourceId('p-tmp-', 'run-1'))).toBe('run-1');
      expect(runIdFromTempId('p-tmp-', 'prod-cluster')).toBeUndefined();
    });
  });

  describe('Function: exportTaskIdFor', () => {
    it('is unique per attempt and at most 60 characters, even for the longest names', () => {
      const runId = runIdFor(`rds:${'x'.repeat(63)}-2026-05-15-09-10`, 12);
      const ids = [1, 2, 3, 100].map((n) => exportTaskIdFor(LONGEST_PREFIX, runId, n));
      expect(new Set(ids).size).toBe(4);
      for (const id of ids) {
        expect(id.length).toBeLessThanOrEqual(60);
        expect(isValidIdentifier(id, 60)).toBe(true);
        expect(id.startsWith(LONGEST_PREFIX)).toBe(true);
      }
    });

    it('keeps the plain form when it fits', () => {
      expect(exportTaskIdFor('p-tmp-', 'run-1', 2)).toBe('p-tmp-run-1-x2');
    });
  });

  it('places the export under <exportPrefix>/<runId>/<exportTaskId>', () => {
    expect(exportS3PrefixFor('exports/', 'run-1', 'p-tmp-run-1-x1')).toBe('exports/run-1/p-tmp-run-1-x1');
  });
});
