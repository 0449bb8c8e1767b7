import { execFileSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { App } from 'cdktf';
import { loadConfig, parseConfig } from '../../config/load';
import type { PipelineConfig } from '../../config/schema';
import type { LambdaZip } from '../../modules/lambda-bundle';
import { PipelineStack, STACK_ID } from '../../modules/pipeline-stack';
import { handlerBundles } from '../support/shared-bundles';

/**
 * The real `terraform validate` and an offline `terraform plan -refresh=false` on the synthesized stack, with
 * the AWS provider from a local filesystem mirror (TF_PROVIDER_MIRROR, default /opt/tf-plugins).
 */

const MIRROR = process.env.TF_PROVIDER_MIRROR ?? '/opt/tf-plugins';
const temporary: string[] = [];
afterAll(() =>
  temporary.forEach((d) => {
    rmSync(d, { recursive: true, force: true });
  }),
);

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const terraform = findOnPath('terraform');
const whyNot = !terraform
  ? 'terraform is not on PATH'
  : !existsSync(join(MIRROR, 'registry.terraform.io', 'hashicorp', 'aws'))
    ? `no hashicorp/aws provider in the mirror ${MIRROR} (set TF_PROVIDER_MIRROR)`
    : undefined;

/** The example configuration with `clusters` source clusters of `entries` exportOnly entries each. */
function largeConfig(clusters: number, entries: number): PipelineConfig {
  const example = loadConfig(join(__dirname, '..', '..', 'config', 'example.json'), 'production');
  return parseConfig({
    ...example,
    restore: { vpcSecurityGroupIds: [] },
    sourceClusters: Array.from({ length: clusters }, (_, i) => ({
      identifier: `orders-eu-${String(i).padStart(3, '0')}`,
      snapshotKmsKeyArn: `arn:aws:kms:eu-west-1:123456789012:key/${String(i).padStart(8, '0')}-5f60-4718-9a0b-1c2d3e4f5a6b`,
      exportOnly: Array.from({ length: entries }, (_, j) => `sales_${i}.public.order_line_items_${j}`),
    })),
  });
}

/** Synthesizes the example stack (or `config`) into a fresh folder; returns the stack's Terraform directory. */
function synthInto(
  offline: boolean,
  code: ReadonlyMap<string, LambdaZip>,
  config?: PipelineConfig,
  hclOutput = false,
): string {
  const outdir = mkdtempSync(join(tmpdir(), 'pipeline-tf-'));
  temporary.push(outdir);
  config ??= loadConfig(join(__dirname, '..', '..', 'config', 'example.json'), 'production');
  // `cdktf synth --hcl` sets SYNTH_HCL_OUTPUT for the app, and each stack reads it when it is built.
  const before = process.env.SYNTH_HCL_OUTPUT;
  process.env.SYNTH_HCL_OUTPUT = String(hclOutput);
  try {
    const app = new App({ outdir, hclOutput });
    new PipelineStack(app, STACK_ID, {
      config: { ...config, backend: { type: 'local', path: join(outdir, 'terraform.tfstate') } },
      code,
      ...(offline ? { offline: { accountId: '123456789012', endpoint: 'http://127.0.0.1:9' } } : {}),
    });
    app.synth();
  } finally {
    if (before === undefined) delete process.env.SYNTH_HCL_OUTPUT;
    else process.env.SYNTH_HCL_OUTPUT = before;
  }
  return join(outdir, 'stacks', STACK_ID);
}

/**
 * Runs terraform with a CLI config that installs providers from the mirror only, and no AWS credentials at all;
 * `dataDir` is the working directory's data (TF_DATA_DIR) when another directory's `init` is reused.
 */
function run(dir: string, args: string[], dataDir?: string): string {
  const cliConfig = join(dir, 'terraform.rc');
  writeFileSync(
    cliConfig,
    `provider_installation {\n  filesystem_mirror {\n    path    = ${JSON.stringify(MIRROR)}\n    include = ["registry.terraform.io/*/*"]\n  }\n  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n`,
  );
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  try {
    return execFileSync(terraform as string, args, {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...env,
        TF_CLI_CONFIG_FILE: cliConfig,
        TF_IN_AUTOMATION: '1',
        CHECKPOINT_DISABLE: '1',
        // The AWS provider builds its whole schema each time terraform starts it (two or three times a command);
        // with Go's default heap target it collects garbage many times on the way. A larger target (the provider
        // inherits terraform's environment) takes about a third off each command's CPU time for ~150 MB more.
        GOGC: process.env.GOGC ?? '400',
        ...(dataDir ? { TF_DATA_DIR: dataDir } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`terraform ${args.join(' ')} failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

/** The part of `terraform show -json <plan>` read here. */
interface PlanJson {
  readonly resource_changes: readonly {
    readonly address: string;
    readonly type: string;
    readonly change: { readonly after: Record<string, unknown>; readonly after_unknown: Record<string, unknown> };
  }[];
  readonly configuration: {
    readonly root_module: {
      readonly resources: readonly { readonly address: string; readonly expressions?: object }[];
    };
  };
}

/** Attributes that hold a policy document, by resource type. */
const POLICY_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  aws_iam_role: ['assume_role_policy'],
  aws_iam_role_policy: ['policy'],
  aws_iam_policy: ['policy'],
  aws_kms_key: ['policy'],
  aws_kms_key_policy: ['policy'],
  aws_s3_bucket_policy: ['policy'],
  aws_sns_topic: ['policy'],
  aws_sns_topic_policy: ['policy'],
  aws_sqs_queue: ['policy'],
  aws_sqs_queue_policy: ['policy'],
};

/**
 * Every policy attribute the configuration sets, split by whether the plan knows its value. A policy attribute
 * the configuration leaves out (a topic's or queue's own `policy`, read back from AWS after apply) is listed apart.
 */
function policyAttributes(plan: PlanJson): { known: string[]; unknown: string[]; readBack: string[] } {
  const configured = new Map(
    plan.configuration.root_module.resources.map((r) => [r.address, new Set(Object.keys(r.expressions ?? {}))]),
  );
  const known: string[] = [];
  const unknown: string[] = [];
  const readBack: string[] = [];
  for (const rc of plan.resource_changes) {
    for (const attribute of POLICY_ATTRIBUTES[rc.type] ?? []) {
      const where = `${rc.address}.${attribute}`;
      if (!configured.get(rc.address)?.has(attribute)) readBack.push(where);
      else if (rc.change.after_unknown?.[attribute] === true) unknown.push(where);
      else known.push(where);
    }
  }
  return { known, unknown, readBack };
}

if (whyNot) {
  describe('Terraform checks', () => {
    it('are not run on this machine, and say why', () => {
      console.log(`terraform validate/plan not run: ${whyNot}`);
      expect(whyNot).toMatch(/terraform|mirror/);
    });
  });
} else {
  describe('Terraform checks', () => {
    const code = handlerBundles();

    // One `terraform init` for the file: in the offline stack's folder, whose plan needs its local backend set
    // up. The other stacks need the same provider, so they reuse that folder's data directory (installed
    // provider) and its dependency lock file instead of installing it again.
    let offline: string | undefined;
    const initialized = (): string => {
      if (!offline) {
        offline = synthInto(true, code);
        run(offline, ['init', '-input=false', '-no-color']);
      }
      return offline;
    };
    const validate = (dir: string, args = ['-no-color']): string => {
      const from = initialized();
      copyFileSync(join(from, '.terraform.lock.hcl'), join(dir, '.terraform.lock.hcl'));
      return run(dir, ['validate', ...args], join(from, '.terraform'));
    };

    it('terraform validate accepts the synthesized stack', () => {
      expect(validate(synthInto(false, code))).toContain('Success! The configuration is valid.');
    }, 120_000);

    it('terraform validate accepts the stack of 100 source clusters with 20 exportOnly entries each', () => {
      expect(validate(synthInto(false, code, largeConfig(100, 20)))).toContain('Success! The configuration is valid.');
    }, 120_000);

    it('terraform validate accepts the stack synthesized as HCL (cdktf synth --hcl)', () => {
      const dir = synthInto(false, code, undefined, true);
      expect(existsSync(join(dir, 'cdk.tf'))).toBe(true);
      const result = JSON.parse(validate(dir, ['-json', '-no-color'])) as {
        valid: boolean;
        error_count: number;
        warning_count: number;
        diagnostics: { severity: string; summary: string }[];
      };
      // cdktf writes depends_on entries quoted, which Terraform accepts with a deprecation warning.
      const warnings = [...new Set(result.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.summary))];
      console.log(
        `HCL validate: ${result.error_count} errors, ${result.warning_count} warnings (${warnings.join('; ') || 'none'})`,
      );
      expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(warnings.every((w) => w === 'Quoted references are deprecated')).toBe(true);
      expect(result.valid).toBe(true);
    }, 120_000);

    it('terraform plan -refresh=false creates the whole pipeline without reaching AWS, every policy known', () => {
      const dir = initialized();
      const plan = run(dir, [
        'plan',
        '-refresh=false',
        '-input=false',
        '-lock=false',
        '-no-color',
        '-out=first.tfplan',
      ]);
      expect(plan).toMatch(/Plan: \d+ to add, 0 to change, 0 to destroy\./);
      expect(plan).toContain('aws_lambda_function.pipeline_copy_function');

      // A reviewer reads every policy of a fresh environment's first plan: none may be "(known after apply)".
      const shown = JSON.parse(run(dir, ['show', '-json', '-no-color', 'first.tfplan'])) as PlanJson;
      const policies = policyAttributes(shown);
      console.log(
        `first plan: ${policies.known.length} policy documents known, ${policies.unknown.length} unknown ` +
          `(${policies.readBack.length} policies read back from AWS that the configuration does not set)`,
      );
      expect(policies.unknown).toEqual([]);
      expect(policies.known.length).toBeGreaterThan(20);
    }, 240_000);
  });
}
