/**
 * Output helpers: where lines go (injectable for tests), aligned tables, durations and check marks.
 * Results go to stdout; progress and errors go to stderr, so `--json` output stays parseable.
 */

import { formatBytes as formatByteSize } from '../lambdas/shared/domain/report';

/** Where the CLI writes. */
export interface Io {
  /** A line of the command's result (stdout). */
  out(line: string): void;
  /** Progress, warnings and errors (stderr). */
  err(line: string): void;
}

/** Io bound to the process streams. */
export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Renders rows as a left-aligned table with a header; empty cells show as `-`. */
export function formatTable(headers: readonly string[], rows: readonly (readonly (string | undefined)[])[]): string[] {
  const cells = rows.map((r) => headers.map((_, i) => (r[i] === undefined || r[i] === '' ? '-' : String(r[i]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)];
}

/** A duration as `1h 02m`, `3m 05s` or `12s`; undefined stays undefined. */
export function formatDuration(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** An ISO timestamp shortened to `YYYY-MM-DD HH:MM:SSZ` for tables. */
export function formatTime(iso: string | undefined): string | undefined {
  if (!iso) return undefined;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Bytes as `512 B`, `1.5 KiB`, `3.2 GiB`; nothing for an unknown size. */
export function formatBytes(bytes: number | undefined): string | undefined {
  return bytes === undefined ? undefined : formatByteSize(bytes);
}

/** Prints a value as pretty JSON on stdout. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
