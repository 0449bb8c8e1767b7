import { createHash } from 'node:crypto';
import {
  MAX_RUN_ID_LENGTH,
  exportS3PrefixFor,
  exportTaskS3Prefix,
  exportTaskIdFor,
  isValidIdentifier,
  runIdFor,
  runIdFromTempId,
  shortHash,
  tempResourceId,
  tempResourceTags,
} from '../../../../lambdas/shared/domain/naming';
import { NamingError } from '../../../../lambdas/shared/errors';

const LONGEST_PREFIX = 'abcdefghijklmnopqrst-tmp-';

/** The first `length` hex digits of the SHA-256 of `text`: the hash the names end with. */
const sha = (text: string, length = 6) => createHash('sha256').update(text).digest('hex').slice(0, length);

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

  describe('Function: isValidIdentifier', () => {
    it('accepts letters, digits and single hyphens up to the limit, starting with a letter', () => {
      expect(isValidIdentifier('a', 60)).toBe(true);
      expect(isValidIdentifier('A1-b2-C3', 60)).toBe(true);
      expect(isValidIdentifier(`a${'b'.repeat(59)}`, 60)).toBe(true);
    });

    it('refuses an identifier one character over the limit', () => {
      expect(isValidIdentifier(`a${'b'.repeat(60)}`, 60)).toBe(false);
    });

    it('refuses an empty identifier', () => {
      expect(isValidIdentifier('', 60)).toBe(false);
    });

    it('refuses a leading digit or hyphen, two hyphens in a row and a trailing hyphen', () => {
      expect(isValidIdentifier('1abc', 60)).toBe(false);
      expect(isValidIdentifier('-abc', 60)).toBe(false);
      expect(isValidIdentifier('ab--c', 60)).toBe(false);
      expect(isValidIdentifier('abc-', 60)).toBe(false);
    });

    it('refuses characters RDS does not allow', () => {
      expect(isValidIdentifier('ab_c', 60)).toBe(false);
      expect(isValidIdentifier('ab.c', 60)).toBe(false);
      expect(isValidIdentifier('abc ', 60)).toBe(false);
    });
  });

  describe('Function: shortHash', () => {
    it('is the start of the SHA-256 hex digest, six digits unless told', () => {
      expect(shortHash('my-snap')).toBe(sha('my-snap'));
      expect(shortHash('my-snap', 10)).toBe(sha('my-snap', 10));
    });
  });

  describe('Function: runIdFor, exact names', () => {
    it('names the run of a manual snapshot after the snapshot id and its hash', () => {
      expect(runIdFor('my-snap')).toBe(`my-snap-${sha('my-snap')}`);
      expect(runIdFor('my-snap', 2)).toBe(`my-snap-${sha('my-snap')}-r2`);
    });

    it('lowercases a manual snapshot id and turns every run of other characters into one hyphen', () => {
      expect(runIdFor('Orders_Manual.Snapshot-1')).toBe(`orders-manual-snapshot-1-${sha('Orders_Manual.Snapshot-1')}`);
    });

    it('drops leading and trailing characters RDS does not allow, and names an id with none it allows s', () => {
      expect(runIdFor('__snap__')).toBe(`snap-${sha('__snap__')}`);
      expect(runIdFor('!!!')).toBe(`s-${sha('!!!')}`);
    });

    it('starts with s- when the snapshot id starts with a digit', () => {
      expect(runIdFor('2026--weird__Snapshot!!')).toBe(`s-2026-weird-snapshot-${sha('2026--weird__Snapshot!!')}`);
    });

    it('names the run of an automated snapshot after its cluster and the snapshot time, hashing the whole id', () => {
      expect(runIdFor('rds:orders-2026-05-15-09-10')).toBe(`orders-202605150910-${sha('rds:orders-2026-05-15-09-10')}`);
    });

    it('falls back to s-<time> when nothing of the cluster name is usable', () => {
      expect(runIdFor('rds:---2026-05-15-09-10')).toBe(`s-202605150910-${sha('rds:---2026-05-15-09-10')}`);
    });

    it('shortens a long cluster name to exactly the run id budget, and further for later attempts', () => {
      const source = `rds:${'a'.repeat(60)}-one-2026-05-15-09-10`;
      expect(runIdFor(source)).toBe(`${'a'.repeat(18)}-202605150910-${sha(source)}`);
      expect(runIdFor(source)).toHaveLength(MAX_RUN_ID_LENGTH);
      expect(runIdFor(source, 3)).toBe(`${'a'.repeat(15)}-202605150910-${sha(source)}-r3`);
    });

    it('shortens a long manual snapshot id to exactly the run id budget', () => {
      const source = 'x'.repeat(50);
      expect(runIdFor(source)).toBe(`${'x'.repeat(31)}-${sha(source)}`);
    });

    it('does not leave a hyphen where a long name is cut', () => {
      // 30 letters, then a hyphen at the 31st character: the cut ends on the hyphen and drops it.
      const source = `${'m'.repeat(30)}-tail-of-the-name`;
      expect(runIdFor(source)).toBe(`${'m'.repeat(30)}-${sha(source)}`);
    });

    it('refuses an attempt that is not a positive integer', () => {
      expect(() => runIdFor('my-snap', 0)).toThrow(new NamingError('attempt must be a positive integer, got 0'));
      expect(() => runIdFor('my-snap', 1.5)).toThrow(NamingError);
      expect(runIdFor('my-snap', 1)).toBe(runIdFor('my-snap'));
    });
  });

  describe('Function: tempResourceId, boundaries', () => {
    it('joins the prefix and the run id', () => {
      expect(tempResourceId('p-tmp-', 'run-1')).toBe('p-tmp-run-1');
    });

    it('accepts a prefix of exactly 25 characters and refuses one of 26', () => {
      expect(tempResourceId(LONGEST_PREFIX, 'r')).toBe(`${LONGEST_PREFIX}r`);
      expect(() => tempResourceId(`a${LONGEST_PREFIX}`, 'r')).toThrow(
        new NamingError(
          `temporary resource prefix "a${LONGEST_PREFIX}" must be at most 25 letters, digits and single hyphens`,
        ),
      );
    });

    it('refuses a prefix with two hyphens in a row, a leading digit or another character', () => {
      for (const prefix of ['p--tmp-', '1p-tmp-', 'p_tmp-'])
        expect(() => tempResourceId(prefix, 'r')).toThrow(NamingError);
    });

    it('accepts exactly 63 characters and refuses 64', () => {
      expect(tempResourceId('p-tmp-', `r${'a'.repeat(56)}`)).toHaveLength(63);
      expect(() => tempResourceId('p-tmp-', `r${'a'.repeat(57)}`)).toThrow(
        new NamingError(`"p-tmp-r${'a'.repeat(57)}" is not a valid cluster identifier (at most 63 characters)`),
      );
    });

    it('refuses a run id that would leave two hyphens or a trailing hyphen in the identifier', () => {
      expect(() => tempResourceId('p-tmp-', '-run')).toThrow(NamingError);
      expect(() => tempResourceId('p-tmp-', 'run-')).toThrow(NamingError);
    });
  });

  describe('Function: runIdFromTempId, boundaries', () => {
    it('finds no run in an id that is only the prefix', () => {
      expect(runIdFromTempId('p-tmp-', 'p-tmp-')).toBeUndefined();
      expect(runIdFromTempId('p-tmp-', 'p-tmp-r')).toBe('r');
    });
  });

  describe('Function: exportTaskIdFor, boundaries', () => {
    it('keeps the plain form at exactly 60 characters', () => {
      const runId = `r${'a'.repeat(50)}`;
      expect(exportTaskIdFor('p-tmp-', runId, 1)).toBe(`p-tmp-${runId}-x1`);
      expect(exportTaskIdFor('p-tmp-', runId, 1)).toHaveLength(60);
    });

    it('shortens the run id with its hash to exactly 60 characters from 61 on', () => {
      const runId = `r${'a'.repeat(51)}`;
      expect(exportTaskIdFor('p-tmp-', runId, 1)).toBe(`p-tmp-r${'a'.repeat(43)}-${sha(runId)}-x1`);
      expect(exportTaskIdFor('p-tmp-', runId, 1)).toHaveLength(60);
    });

    it('leaves no doubled hyphen where the run id is cut before its hash', () => {
      const runId = `r${'a'.repeat(42)}-bcdefghi`;
      expect(exportTaskIdFor('p-tmp-', runId, 1)).toBe(`p-tmp-r${'a'.repeat(42)}-${sha(runId)}-x1`);
    });

    it('refuses a prefix that is not a valid identifier start, and an id RDS would refuse', () => {
      expect(() => exportTaskIdFor('1-tmp-', 'run-1', 1)).toThrow(NamingError);
      expect(() => exportTaskIdFor('p-tmp-', 'run_1', 1)).toThrow(
        new NamingError('"p-tmp-run_1-x1" is not a valid export task id'),
      );
    });
  });

  describe('Function: exportTaskS3Prefix', () => {
    it('drops every trailing slash of the export prefix', () => {
      expect(exportTaskS3Prefix('exports//', 'run-1')).toBe('exports/run-1');
      expect(exportTaskS3Prefix('exports', 'run-1')).toBe('exports/run-1');
    });
  });

  describe('Function: tempResourceTags', () => {
    it('tags a temporary resource with who manages it and its run', () => {
      expect(tempResourceTags('aurora-export', 'run-1')).toEqual([
        { Key: 'managed-by', Value: 'aurora-export' },
        { Key: 'run-id', Value: 'run-1' },
      ]);
    });
  });
});
