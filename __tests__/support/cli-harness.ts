/**
 * Runs the operator CLI against a simulated deployment: the CLI reads the simulation's run table (dynalite),
 * asks its fake RDS control plane, and publishes into its in-process pipeline topic, so the real stage
 * handlers do what the CLI asks. The CLI's clock is the simulation's, and each of its waits between polls
 * lets the simulation deliver what is queued and move one tick on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultClients, type AwsClients } from '../../cli/aws';
import { main } from '../../cli/main';
import type { LocatedStack } from '../../cli/stack';
import type { PipelineConfigInput } from '../../config/schema';
import type { PipelineMessage, PipelinePublisher } from '../../lambdas/shared/domain/messages';
import type { Run, StageFunction } from '../../lambdas/shared/domain/run';
import type { Simulation } from '../simulation/harness';

/** What one CLI invocation printed and returned. */
export interface CliResult {
  readonly code: number;
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** stdout as one string. */
  readonly out: string;
  /** stderr as one string. */
  readonly err: string;
}

/** The configuration file of the simulated deployment, as an operator would write it. */
export function simulationConfig(sim: Simulation): PipelineConfigInput {
  const s = sim.settings;
  return {
    namePrefix: s.namePrefix,
    region: 'eu-west-1',
    backend: { type: 'local', path: 'terraform.tfstate' },
    sourceClusters: s.sourceClusters.map((c) => ({
      identifier: c.identifier,
      exportMode: c.exportMode,
      exportOnly: [...c.exportOnly],
    })),
    restore: { ...s.restore, vpcSecurityGroupIds: [...s.restore.vpcSecurityGroupIds] },
    destination: { ...s.destination },
    stageDeadlinesMinutes: { ...s.stageDeadlinesMinutes },
    orphanGraceMinutes: s.orphanGraceMinutes,
    runRetentionDays: s.runRetentionDays,
  };
}

/** The operator CLI wired to one simulation. */
export class SimulatedCli {
  /** Every message the CLI published into the pipeline. */
  readonly published: { target: StageFunction; message: PipelineMessage }[] = [];
  private readonly dir: string;
  private readonly configPath: string;

  constructor(private readonly sim: Simulation) {
    this.dir = mkdtempSync(join(tmpdir(), 'pipeline-cli-'));
    this.configPath = join(this.dir, 'pipeline.json');
    writeFileSync(this.configPath, JSON.stringify(simulationConfig(sim), null, 2));
  }

  /** Runs `pipeline <args>` and returns what it printed. */
  async run(args: readonly string[]): Promise<CliResult> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const sim = this.sim;
    const publisher: PipelinePublisher = {
      publish: async (target, message) => {
        this.published.push({ target, message });
        sim.publish(target, message);
      },
    };
    const stack: LocatedStack = {
      source: 'simulation',
      info: {
        tableName: sim.settings.tableName,
        pipelineTopicArn: sim.settings.pipelineTopicArn,
        exportBucket: sim.settings.exportBucket,
      },
    };
    const code = await main(args, {
      io: { out: (l) => stdout.push(l), err: (l) => stderr.push(l) },
      env: { PIPELINE_CONFIG: this.configPath },
      aws: this.clients(),
      stack,
      publisher,
      now: () => sim.now(),
      sleep: async () => {
        await sim.drain();
        await sim.tick();
      },
    });
    return { code, stdout, stderr, out: stdout.join('\n'), err: stderr.join('\n') };
  }

  /** The simulation's run table and control plane; nothing may reach SNS, whose work the publisher does. */
  private clients(): AwsClients {
    const dynamo = this.sim.store.client;
    return {
      ...defaultClients('eu-west-1', {}),
      dynamo: () => dynamo,
      sns: () => {
        throw new Error('the simulated CLI publishes into the pipeline in process, never to SNS');
      },
    };
  }

  /** Removes the configuration file. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Delivers what is queued and moves the simulation tick by tick until a run satisfies `wanted`; fails after
 * `maxTicks`. Lets a test stop a run at a chosen stage.
 */
export async function advanceUntil(sim: Simulation, wanted: (run: Run) => boolean, maxTicks = 40): Promise<Run> {
  for (let i = 0; i <= maxTicks; i++) {
    await sim.drain();
    const hit = (await sim.allRuns()).find(wanted);
    if (hit) return hit;
    await sim.tick();
  }
  throw new Error(
    `no run reached the wanted state within ${maxTicks} ticks: ${JSON.stringify((await sim.allRuns()).map((r) => [r.runId, r.stage]))}`,
  );
}
