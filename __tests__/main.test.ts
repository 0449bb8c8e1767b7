import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** Runs `main.ts` the way `npm run synth` does, into a fresh output folder. */
const ROOT = join(__dirname, '..');
const temporary: string[] = [];
afterAll(() =>
  temporary.forEach((d) => {
    rmSync(d, { recursive: true, force: true });
  }),
);

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}

function synth(args: string[], env: NodeJS.ProcessEnv = {}) {
  const outdir = tempDir('pipeline-synth-');
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, PIPELINE_CONFIG: '', ...env, CDKTF_OUTDIR: outdir },
  });
  return { ...result, outdir };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function writeConfig(config: unknown): string {
  const file = join(tempDir('pipeline-config-'), 'config.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

const example = JSON.parse(readFileSync(join(ROOT, 'config', 'example.json'), 'utf8'));
const production = example.environments.production;

describe('main', () => {
  it('lists every problem of a bad configuration and exits 1 without a stack trace', () => {
    const bad = writeConfig({
      environments: {
        production: {
          ...production,
          namePrefix: 'Bad_Prefix',
          region: 'moon-1',
          sourceClusters: [],
          exportRetentionDays: '7',
          destination: { expectedOwnerAccountId: '12' },
          surprise: true,
        },
      },
    });
    const { status, stderr, stdout } = synth(['--config', bad]);
    expect(status).toBe(1);
    expect(stdout).not.toContain('cdk.tf.json');
    for (const path of [
      'namePrefix',
      'region',
      'sourceClusters',
      'exportRetentionDays',
      'destination.expectedOwnerAccountId',
      'destination.accessPointArn',
    ]) {
      expect(stderr).toContain(`  - environments.production.${path}: `);
    }
    expect(stderr).toContain('  - environments.production: unknown key(s) surprise');
    expect(stderr).toContain('exportRetentionDays: expected number, got string ("7")');
    expect(stderr).toMatch(/Invalid configuration in .+config\.json \(\d+ problems\)/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('reports an unreadable file and invalid JSON the same way, naming the line and column', () => {
    const missing = synth(['--config', join(tmpdir(), 'no-such-pipeline-config.json')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('(file): a readable file (ENOENT)');
    const broken = synth([], {
      PIPELINE_CONFIG: writeConfig('{\n  "environments": {\n    "dev": { "namePrefix": }\n'),
    });
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('(file): valid JSON (');
    expect(broken.stderr).toContain('at line 3, column 28)');
    expect(broken.stderr).not.toMatch(/^\s+at /m);
  });

  it('lists every AWS limit a configuration would go past and exits 1 without a stack trace', () => {
    const tooLarge = writeConfig({
      environments: {
        development: example.environments.development,
        production: {
          ...production,
          sourceClusters: Array.from({ length: 400 }, (_, i) => ({
            identifier: `${'a'.repeat(56)}-${String(i).padStart(4, '0')}`,
            exportOnly: Array.from({ length: 20 }, (_, j) => `sales.public.order_line_items_${j}`),
          })),
        },
      },
    });
    const { status, stderr, stdout } = synth(['--config', tooLarge]);
    expect(status).toBe(1);
    expect(stdout).not.toContain('cdk.tf.json');
    expect(stderr).toMatch(
      /^Configuration .+config\.json, environment production: The configuration goes past AWS limits \(\d+ problems\):\n/,
    );
    expect(stderr).toMatch(
      / {2}- the start function's role \(aurora-export-start\): \d+ policies, over IAM's managed policies attached per role quota .* of 10 policies \(grows with sourceClusters: 400 clusters\)/,
    );
    expect(stderr).toMatch(/ {2}- the export function's role \(aurora-export-export\): \d+ policies/);
    expect(stderr).not.toMatch(/^\s+at /m);
  }, 60_000);

  it('synthesizes only the environments named by --environment, and refuses an unknown one', () => {
    const one = synth(['--environment', 'development']);
    expect(one.stderr).toBe('');
    expect(one.status).toBe(0);
    expect(readdirSync(join(one.outdir, 'stacks'))).toEqual(['development']);
    const unknown = synth([], { PIPELINE_ENVIRONMENT: 'staging' });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('--environment: one of development, production (got "staging")');
  }, 60_000);

  it('reads a single-environment file as the stack named pipeline', () => {
    const { $schema: _, ...single } = { $schema: './pipeline.schema.json', ...production };
    const result = synth(['--config', writeConfig({ $schema: 'x', ...single })]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(readdirSync(join(result.outdir, 'stacks'))).toEqual(['pipeline']);
  }, 60_000);

  it('synthesizes every environment of the example twice into byte-identical Terraform and zips', () => {
    const first = synth([]);
    const second = synth([]);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(second.status).toBe(0);
    expect(readdirSync(join(first.outdir, 'stacks')).sort()).toEqual(['development', 'production']);
    const list = (out: string) =>
      filesUnder(join(out, 'stacks'))
        .map((f) => relative(join(out, 'stacks'), f))
        .sort();
    expect(list(first.outdir)).toEqual(list(second.outdir));
    const files = list(first.outdir);
    for (const env of ['development', 'production']) {
      expect(files).toContain(`${env}/cdk.tf.json`);
      expect(files.filter((f) => f.startsWith(`${env}/`) && f.endsWith('.zip'))).toHaveLength(7);
    }
    for (const f of files) {
      expect(readFileSync(join(first.outdir, 'stacks', f)).equals(readFileSync(join(second.outdir, 'stacks', f)))).toBe(
        true,
      );
    }
  }, 90_000);
});
