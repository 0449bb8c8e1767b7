/**
 * What a finished run tells people: the short alert text and the time spent in each stage.
 */
import { RunStage, STAGES_IN_ORDER, type Run } from './run';

/** Seconds spent in each stage the run went through, in pipeline order. */
export function stageDurations(run: Run): { stage: RunStage; seconds: number }[] {
  const entered = STAGES_IN_ORDER.filter((s) => run.stageEnteredAt[s]).map((s) => ({
    stage: s,
    at: Date.parse(run.stageEnteredAt[s] as string),
  }));
  entered.sort((a, b) => a.at - b.at);
  const out: { stage: RunStage; seconds: number }[] = [];
  for (let i = 0; i < entered.length - 1; i++)
    out.push({ stage: entered[i].stage, seconds: Math.round((entered[i + 1].at - entered[i].at) / 1000) });
  return out;
}

function human(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${seconds % 60 ? ` ${seconds % 60}s` : ''}` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** Bytes as `512 B`, `1.5 KiB`, `3.2 GiB`: the one spelling of sizes in alerts and the operator CLI. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

const RESOURCE_KINDS: Readonly<Record<string, string>> = {
  cluster: 'temporary cluster',
  'cluster-snapshot': 'temporary cluster snapshot',
  'export-task': 'export task',
};

/** A `cleanedUp` entry (`<kind>:<id>[ (note)]`) in words: `cluster:x` is `temporary cluster x`. */
export function describeRemoved(entry: string): string {
  const at = entry.indexOf(':');
  const kind = at > 0 ? RESOURCE_KINDS[entry.slice(0, at)] : undefined;
  return kind ? `${kind} ${entry.slice(at + 1)}` : entry;
}

/** Subject and body of the alert for a run that just reached a terminal stage. */
export function alertFor(pipeline: string, run: Run): { subject: string; text: string } {
  const lines = [
    `Run ${run.runId} ${run.stage}`,
    `Cluster: ${run.sourceClusterId}`,
    `Snapshot: ${run.sourceSnapshotId}`,
    `Path: ${run.path}`,
  ];
  if (run.stage !== RunStage.SUCCEEDED && run.error) {
    lines.push(`Stage: ${run.error.stage}`, `Error: ${run.error.kind}: ${run.error.message}`);
  }
  if (run.copy)
    lines.push(
      `Objects: ${run.copy.objectsCopied ?? run.copy.objects}`,
      `Bytes: ${formatBytes(run.copy.bytesCopied ?? run.copy.bytes)} (${run.copy.bytesCopied ?? run.copy.bytes})`,
    );
  if (run.destinationPrefix) lines.push(`Destination prefix: ${run.destinationPrefix}`);
  if (run.warnings?.length) lines.push(`Warnings: ${run.warnings.join('; ')}`);
  lines.push(
    `Cleaned up: ${run.cleanedUp?.length ? run.cleanedUp.map(describeRemoved).join(', ') : 'nothing left to delete'}`,
  );
  const durations = stageDurations(run);
  if (durations.length) lines.push(`Stages: ${durations.map((d) => `${d.stage} ${human(d.seconds)}`).join(', ')}`);
  const where = run.stage !== RunStage.SUCCEEDED && run.error ? ` at ${run.error.stage}` : '';
  return { subject: `[${pipeline}] ${run.sourceClusterId} export ${run.stage}${where}`, text: lines.join('\n') };
}
