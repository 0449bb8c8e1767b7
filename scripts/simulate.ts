/**
 * `npm run simulate`: one full pipeline run on embedded emulators, narrated as it happens. No AWS account
 * needed: a fake RDS control plane (emitting the RDS events a real one would), dynalite for the run table
 * and s3rver for the export bucket and the client's bucket, driven through the real stage handlers.
 *
 *   npm run simulate                       # Aurora Serverless v1: restore, snapshot, export, copy, cleanup
 *   npm run simulate -- --direct           # a provisioned cluster: direct export, copy, cleanup
 */
import { Simulation, type SimulationStep } from '../__tests__/simulation/harness';
import { stageDurations } from '../lambdas/shared/domain/report';
import { deliveryLines, summarizeDelivery } from './delivery-summary';

// The AWS SDK warns once per process that its releases after January 2027 need Node.js 22; the narration
// stays readable with the SDK's documented switch for that notice (aws/aws-sdk-js-v3#7983). It is set only
// here, before any client exists, and only when the caller has not chosen otherwise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const direct = process.argv.includes('--direct');
const started = Date.now();
let simStart: Date | undefined;
let sim: Simulation | undefined;

function stamp(): string {
  const wall = ((Date.now() - started) / 1000).toFixed(2).padStart(6);
  const simMinutes = sim && simStart ? Math.round((sim.now().getTime() - simStart.getTime()) / 60_000) : 0;
  const simClock = `${String(Math.floor(simMinutes / 60)).padStart(2, '0')}:${String(simMinutes % 60).padStart(2, '0')}`;
  return `[sim +${simClock} | ${wall}s]`;
}

function narrate(step: SimulationStep): void {
  switch (step.type) {
    case 'stage':
      console.log(
        `${stamp()} run ${step.run.runId}: ${step.from} → ${step.run.stage}${step.run.error ? `  (${step.run.error.kind}: ${step.run.error.message})` : ''}`,
      );
      break;
    case 'deliver':
      if (step.attempt === 1) console.log(`${stamp()}   ${step.what.padEnd(60)} → ${step.target}`);
      break;
    case 'failed-invocation':
      console.log(`${stamp()}   ${step.target} failed and will be retried by Lambda: ${step.error}`);
      break;
    case 'reconcile':
      if (step.advanced || step.failed || step.orphans)
        console.log(
          `${stamp()}   reconciler: advanced ${step.advanced}, failed ${step.failed}, orphans deleted ${step.orphans}`,
        );
      break;
    case 'tick':
      break;
  }
}

async function main(): Promise<void> {
  console.log(`Starting dynalite, s3rver and the fake RDS control plane...`);
  sim = await Simulation.start({ onStep: narrate, minutesPerTick: 5 });
  simStart = sim.now();
  try {
    const cluster = direct ? 'orders-provisioned' : 'me3-serverless';
    const snap = sim.announceSnapshot(cluster, direct ? 'provisioned' : 'serverless');
    console.log(
      `${stamp()} RDS finished automated snapshot ${snap.id} of ${cluster} (${direct ? 'provisioned' : 'Aurora Serverless v1'})`,
    );
    const [run] = await sim.runUntilSettled();
    await sim.settleResources();
    console.log('');
    if (!run) throw new Error('no run was recorded');
    console.log(
      `Run ${run.runId} ended ${run.stage} after ${((Date.now() - started) / 1000).toFixed(1)}s (simulated time ${Math.round((sim.now().getTime() - (simStart as Date).getTime()) / 60_000)} min).`,
    );
    console.log(
      `Path: ${run.path}; export task ${run.exportTaskId}; export prefix s3://${sim.settings.exportBucket}/${run.exportS3Prefix}/`,
    );
    console.log(
      `Stages: ${stageDurations(run)
        .map((d) => `${d.stage} ${d.seconds / 60} min`)
        .join(', ')}`,
    );
    const prefix = run.destinationPrefix ?? '';
    const delivered = summarizeDelivery(prefix, await sim.keys(sim.destinationBucket, `${prefix}/`));
    const lines = deliveryLines(`s3://${sim.destinationBucket}`, prefix, delivered, run.copy ?? {});
    for (const line of lines) console.log(line);
    const mismatch = lines.some((l) => l.startsWith('MISMATCH'));
    const left = sim.rds.leftovers(sim.settings.tempResourcePrefix);
    console.log(`Temporary resources left: ${left.length ? left.join(', ') : 'none'}`);
    for (const a of sim.alerts) console.log(`\nAlert: ${a.subject}\n${a.text.replace(/^/gm, '  ')}`);
    if (run.stage !== 'SUCCEEDED' || left.length > 0 || delivered.copied.length === 0 || mismatch) process.exitCode = 1;
  } finally {
    await sim.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
