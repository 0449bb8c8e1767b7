import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import example from '../../config/example.json';

/** The CI recipes as files: each parses, runs only commands this project has, and plans every environment. */

const ROOT = join(__dirname, '..', '..');
const DIR = join(ROOT, '.github', 'workflows');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, unknown>;
}
interface Job {
  readonly steps: Step[];
  readonly permissions?: Record<string, string>;
  readonly strategy?: { matrix?: { include?: Record<string, string>[]; environment?: string[] } };
  readonly environment?: string;
  readonly needs?: string | string[];
}
interface Workflow {
  readonly name: string;
  readonly on: Record<string, unknown>;
  readonly permissions?: Record<string, string>;
  readonly jobs: Record<string, Job>;
}

function workflow(file: string): Workflow {
  return load(readFileSync(join(DIR, file), 'utf8')) as Workflow;
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'));

/** Binaries the project's declared dependencies install (what `npx <bin>` may run without a download). */
function declaredBins(): Set<string> {
  const bins = new Set<string>();
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
    const manifest = join(ROOT, 'node_modules', dep, 'package.json');
    if (!existsSync(manifest)) continue;
    const { bin, name } = JSON.parse(readFileSync(manifest, 'utf8'));
    if (typeof bin === 'string') bins.add(name.split('/').pop());
    else for (const b of Object.keys(bin ?? {})) bins.add(b);
  }
  return bins;
}

/** Every simple command of a `run:` script, with GitHub expressions replaced by a placeholder word. */
function commands(run: string): string[][] {
  return run
    .replace(/\$\{\{[^}]*\}\}/g, 'EXPR')
    .replace(/\\\n/g, ' ')
    .split(/\n|&&|\|\||;|\|/)
    .map((c) => c.trim().split(/\s+/).filter(Boolean))
    .filter((words) => words.length > 0 && !words[0].startsWith('#'))
    .map((words) => {
      // Skip leading VAR=value assignments and redirections.
      let i = 0;
      while (i < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[i])) i++;
      const out: string[] = [];
      for (; i < words.length; i++) {
        if (/^[0-9]?>>?$/.test(words[i])) i++;
        else if (!/^[0-9]?>/.test(words[i])) out.push(words[i]);
      }
      return out;
    })
    .filter((words) => words.length > 0);
}

/** Why a command is not one this project has; undefined when it is. */
function missing(words: string[], bins: Set<string>): string | undefined {
  const [cmd, ...args] = words;
  if (cmd === 'npm') {
    const sub = args[0];
    if (sub === 'ci') return undefined;
    if (sub === 'test') return pkg.scripts.test ? undefined : 'npm test without a test script';
    if (sub === 'run') {
      const script = args.slice(1).find((a) => !a.startsWith('-'));
      return script && pkg.scripts[script] ? undefined : `npm script ${script} does not exist`;
    }
    return `npm ${sub} is not a command the recipes should need`;
  }
  if (cmd === 'npx') {
    const bin = args.find((a) => !a.startsWith('-'));
    return bin && bins.has(bin) ? undefined : `npx ${bin} is not a binary of a declared dependency`;
  }
  if (cmd.startsWith('scripts/')) {
    const file = join(ROOT, cmd);
    if (!existsSync(file)) return `${cmd} does not exist`;
    try {
      accessSync(file, constants.X_OK);
    } catch {
      return `${cmd} is not executable`;
    }
    return undefined;
  }
  if (cmd === 'node') {
    const file = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '--import');
    return file && existsSync(join(ROOT, file)) ? undefined : `node ${file}: no such file`;
  }
  if (['terraform', 'echo', 'cat', 'set', 'exit', 'test', '['].includes(cmd)) return undefined;
  return `${cmd} is not a command of this project or of the runner image the recipes rely on`;
}

/** Environment names of a job's matrix. */
function matrixEnvironments(job: Job): string[] {
  const m = job.strategy?.matrix;
  return m?.include ? m.include.map((e) => e.environment) : (m?.environment ?? []);
}

const environments = Object.keys(example.environments);

describe('GitHub Actions workflows', () => {
  it('are the pull-request plan, the drift check and the apply', () => {
    expect(files.sort()).toEqual(['apply.yml', 'drift.yml', 'pull-request.yml']);
  });

  describe.each(files)('%s', (file) => {
    const wf = workflow(file);
    const bins = declaredBins();

    it('runs only commands the project has: npm scripts, binaries of its dependencies, its scripts', () => {
      const problems: string[] = [];
      for (const [name, job] of Object.entries(wf.jobs))
        for (const step of job.steps)
          for (const words of step.run ? commands(step.run) : []) {
            const why = missing(words, bins);
            if (why) problems.push(`${name}: ${words.join(' ')}: ${why}`);
          }
      expect(problems).toEqual([]);
    });

    it('pins every action to a major version and installs Node from .nvmrc and Terraform before using them', () => {
      for (const job of Object.values(wf.jobs)) {
        for (const step of job.steps) if (step.uses) expect(step.uses).toMatch(/^[\w.-]+\/[\w.-]+@v\d+$/);
        const node = job.steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
        expect(node?.with?.['node-version-file']).toBe('.nvmrc');
        const runsTerraform = job.steps.some((s) => s.run && commands(s.run).some((w) => w[0] === 'terraform'));
        const runsScripts = job.steps.some((s) => s.run?.includes('scripts/ci/'));
        if (runsTerraform || runsScripts || job.steps.some((s) => s.run?.includes('npm test')))
          expect(job.steps.some((s) => s.uses?.startsWith('hashicorp/setup-terraform@'))).toBe(true);
      }
    });

    it('plans or applies every environment of the configuration, one matrix entry each', () => {
      const terraformJobs = Object.values(wf.jobs).filter((j) =>
        j.steps.some((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@')),
      );
      expect(terraformJobs.length).toBeGreaterThan(0);
      for (const job of terraformJobs) {
        expect(matrixEnvironments(job)).toEqual(environments);
        expect({ ...wf.permissions, ...job.permissions }['id-token']).toBe('write');
        const synth = job.steps.find((s) => s.run?.startsWith('npm run synth'));
        expect(synth?.run).toContain('--environment ${{ matrix.environment }}');
        const creds = job.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
        expect(String(creds?.with?.['role-to-assume'])).toMatch(/^\$\{\{ vars\[?[.\w[\]]+ \}\}$/);
      }
    });
  });

  it('plans pull requests with OIDC and posts the plan with IAM and key policy changes first', () => {
    const wf = workflow('pull-request.yml');
    expect(Object.keys(wf.on)).toEqual(['pull_request']);
    const plan = wf.jobs.plan;
    expect(plan.needs).toBe('test');
    expect(plan.permissions).toMatchObject({ 'id-token': 'write', 'pull-requests': 'write' });
    const runs = plan.steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('terraform plan -input=false -lock=false -no-color -out plan.tfplan');
    expect(runs).toContain('terraform show -json plan.tfplan > plan.json');
    expect(runs).toContain('scripts/ci/plan-comment.sh ${{ matrix.environment }}');
    for (const env of environments)
      expect(plan.strategy?.matrix?.include?.find((e) => e.environment === env)).toBeDefined();
    const roles = plan.strategy?.matrix?.include?.map((e) => e.plan_role);
    expect(new Set(roles).size).toBe(environments.length);
  });

  it('checks drift on a schedule with the detailed exit code, failing loudly on 2', () => {
    const wf = workflow('drift.yml');
    expect(wf.on.schedule).toEqual([{ cron: expect.stringMatching(/^\S+ \S+ \* \* \*$/) }]);
    const runs = wf.jobs.drift.steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('scripts/ci/drift-check.sh ${{ matrix.environment }}');
    expect(readFileSync(join(ROOT, 'scripts', 'ci', 'drift-check.sh'), 'utf8')).toContain('-detailed-exitcode');
  });

  it('applies on the default branch only, one environment at a time, each in its GitHub environment', () => {
    const wf = workflow('apply.yml');
    expect(wf.on.push).toEqual({ branches: ['main'] });
    const apply = wf.jobs.apply;
    expect(apply.environment).toBe('${{ matrix.environment }}');
    expect(apply.strategy).toMatchObject({ 'max-parallel': 1 });
    const runs = apply.steps.map((s) => s.run ?? '');
    const plan = runs.findIndex((r) => r.startsWith('terraform plan'));
    const applied = runs.findIndex((r) => r.startsWith('terraform apply'));
    expect(plan).toBeGreaterThan(-1);
    expect(applied).toBeGreaterThan(plan);
    expect(runs[applied]).toContain('plan.tfplan');
  });

  it('recognizes a command the project lacks (so the checks above can fail)', () => {
    const bins = declaredBins();
    expect(missing(['npm', 'run', 'no-such-script'], bins)).toMatch(/does not exist/);
    expect(missing(['npx', 'no-such-bin'], bins)).toMatch(/not a binary/);
    expect(missing(['scripts/ci/no-such.sh'], bins)).toMatch(/does not exist/);
    expect(missing(['make', 'deploy'], bins)).toMatch(/not a command/);
    expect(missing(['npx', 'cdktf', 'synth'], bins)).toBeUndefined();
    expect(commands('A=1 npm run synth -- --environment ${{ matrix.environment }} > out.txt')).toEqual([
      ['npm', 'run', 'synth', '--', '--environment', 'EXPR'],
    ]);
  });
});
