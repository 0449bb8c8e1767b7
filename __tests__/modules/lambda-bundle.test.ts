import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { SETTINGS_FILE } from '../../lambdas/shared/contracts/settings';
import { bundleLambdas, deterministicZip, HANDLER_FILE, REPO_ROOT, withFiles } from '../../modules/lambda-bundle';
import { buildRuntimeSettings, packageRuntimeSettings } from '../../modules/runtime-settings';
import { handlerBundles } from '../support/shared-bundles';
import { exampleConfig } from './stack-helper';

const FIXTURE = '__tests__/fixtures/handler.ts';

/** Reads the central directory of a zip: name, DOS time/date, external attributes of each entry. */
function centralDirectory(
  zip: Uint8Array,
): { name: string; time: number; date: number; attrs: number; madeBy: number }[] {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = zip.byteLength - 22;
  while (view.getUint32(eocd, true) !== 0x06054b50) eocd -= 1;
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const entries = [];
  for (let i = 0; i < count; i += 1) {
    const nameLength = view.getUint16(at + 28, true);
    const extra = view.getUint16(at + 30, true);
    const comment = view.getUint16(at + 32, true);
    entries.push({
      madeBy: view.getUint8(at + 5),
      time: view.getUint16(at + 12, true),
      date: view.getUint16(at + 14, true),
      attrs: view.getUint32(at + 38, true),
      name: Buffer.from(zip.subarray(at + 46, at + 46 + nameLength)).toString('utf8'),
    });
    at += 46 + nameLength + extra + comment;
  }
  return entries;
}

describe('Function: deterministicZip', () => {
  it('writes the same bytes for the same files, whatever order they are given in', () => {
    const a = deterministicZip({ 'b.js': Buffer.from('b'), 'a.js': Buffer.from('a') });
    const b = deterministicZip({ 'a.js': Buffer.from('a'), 'b.js': Buffer.from('b') });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('sorts entries and fixes their timestamp (1980-01-01 00:00) and Unix mode 0644', () => {
    const entries = centralDirectory(deterministicZip({ 'z.js': Buffer.from('z'), 'a.js': Buffer.from('a') }));
    expect(entries.map((e) => e.name)).toEqual(['a.js', 'z.js']);
    for (const e of entries) {
      expect(e.time).toBe(0);
      expect(e.date).toBe((0 << 9) | (1 << 5) | 1);
      expect(e.madeBy).toBe(3);
      expect(e.attrs >>> 16).toBe(0o100644);
    }
  });
});

describe('Function: bundleLambdas', () => {
  const cleanup: string[] = [];
  afterAll(() =>
    cleanup.forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const outDirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'bundle-test-')));
  cleanup.push(...outDirs);
  const [first, second] = outDirs.map(
    (outDir) => bundleLambdas([{ name: 'probe', entry: FIXTURE }], { outDir }).get('probe')!,
  );

  it('gives byte-identical zips and hashes for the same source', () => {
    expect(first.zipPath).not.toBe(second.zipPath);
    expect(readFileSync(first.zipPath).equals(readFileSync(second.zipPath))).toBe(true);
    expect(first.sourceCodeHash).toBe(second.sourceCodeHash);
  });

  it('reports the base64 SHA-256 of the zip as source_code_hash', () => {
    expect(first.sourceCodeHash).toBe(createHash('sha256').update(readFileSync(first.zipPath)).digest('base64'));
    expect(first.sha256Hex).toBe(Buffer.from(first.sourceCodeHash, 'base64').toString('hex'));
  });

  it('puts one minified CommonJS file in the zip whose handler runs', async () => {
    const files = unzipSync(readFileSync(first.zipPath));
    expect(Object.keys(files)).toEqual([HANDLER_FILE]);
    const code = Buffer.from(files[HANDLER_FILE]).toString('utf8');
    expect(code).toMatch(/module\.exports/);
    expect(code).not.toMatch(/\n {2,}\S/);
    // The SDK is external, as on Lambda where the runtime provides it; here the repository's node_modules does.
    mkdirSync(join(REPO_ROOT, 'build'), { recursive: true });
    const dir = mkdtempSync(join(REPO_ROOT, 'build', 'bundle-run-'));
    cleanup.push(dir);
    writeFileSync(join(dir, HANDLER_FILE), code);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(join(dir, HANDLER_FILE)) as { handler: (e: object) => Promise<unknown> };
    await expect(mod.handler({})).resolves.toEqual({ published: false });
  });

  it('leaves the AWS SDK to the Lambda runtime by default and bundles it when asked', () => {
    const code = Buffer.from(unzipSync(readFileSync(first.zipPath))[HANDLER_FILE]).toString('utf8');
    expect(code).toContain('require("@aws-sdk/client-sns")');
    const bundled = bundleLambdas([{ name: 'probe', entry: FIXTURE }], { bundleAwsSdk: true }).get('probe')!;
    const bundledCode = Buffer.from(unzipSync(readFileSync(bundled.zipPath))[HANDLER_FILE]).toString('utf8');
    expect(bundledCode).not.toContain('require("@aws-sdk/client-sns")');
    expect(bundled.sizeBytes).toBeGreaterThan(first.sizeBytes * 10);
  });

  it('names every missing handler file instead of bundling a partial set', () => {
    expect(() =>
      bundleLambdas([
        { name: 'a', entry: 'lambdas/nope-a/handler.ts' },
        { name: 'b', entry: FIXTURE },
        { name: 'c', entry: 'lambdas/nope-c/handler.ts' },
      ]),
    ).toThrow('missing handler file(s) lambdas/nope-a/handler.ts (a), lambdas/nope-c/handler.ts (c)');
  });
});

describe('Function: withFiles', () => {
  const cleanup: string[] = [];
  afterAll(() =>
    cleanup.forEach((d) => {
      rmSync(d, { recursive: true, force: true });
    }),
  );
  const outDir = mkdtempSync(join(tmpdir(), 'bundle-files-'));
  cleanup.push(outDir);
  const bundled = bundleLambdas([{ name: 'snapshot', entry: 'lambdas/snapshot/handler.ts' }], { outDir }).get(
    'snapshot',
  )!;
  const packaged = packageRuntimeSettings(
    buildRuntimeSettings(exampleConfig(), {
      accountId: '123456789012',
      tableName: 'aurora-export-runs',
      exportBucket: 'aurora-export-exports',
      exportPrefix: 'exports',
      exportKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
      exportRoleArn: 'arn:aws:iam::123456789012:role/aurora-export-rds-export',
      pipelineTopicArn: 'arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline',
      alertTopicArns: ['arn:aws:sns:eu-west-1:123456789012:aurora-export-alerts'],
    }),
  );

  it('adds the settings beside the handler, byte-identically for the same code and settings', () => {
    const a = withFiles(bundled, { [SETTINGS_FILE]: packaged.file });
    const b = withFiles(bundled, { [SETTINGS_FILE]: packaged.file });
    expect(a.sourceCodeHash).toBe(b.sourceCodeHash);
    expect(a.sourceCodeHash).not.toBe(bundled.sourceCodeHash);
    const files = unzipSync(readFileSync(a.zipPath));
    expect(Object.keys(files)).toEqual([HANDLER_FILE, SETTINGS_FILE]);
    expect(
      Buffer.from(files[HANDLER_FILE]).equals(Buffer.from(unzipSync(readFileSync(bundled.zipPath))[HANDLER_FILE])),
    ).toBe(true);
    expect(a.unzippedSizeBytes).toBe(bundled.unzippedSizeBytes + packaged.file.byteLength);
    expect(() => withFiles(bundled, { [HANDLER_FILE]: packaged.file })).toThrow(/cannot be replaced/);
  });

  it('gives a stage handler, run as Lambda runs it, the settings it reads from beside itself', () => {
    const zip = withFiles(bundled, { [SETTINGS_FILE]: packaged.file });
    mkdirSync(join(REPO_ROOT, 'build'), { recursive: true });
    const dir = mkdtempSync(join(REPO_ROOT, 'build', 'bundle-run-'));
    cleanup.push(dir);
    for (const [name, bytes] of Object.entries(unzipSync(readFileSync(zip.zipPath))))
      writeFileSync(join(dir, name), bytes);
    const invoke = () =>
      spawnSync(
        process.execPath,
        [
          '-e',
          `require(${JSON.stringify(join(dir, HANDLER_FILE))}).handler({ Records: [] }).then(() => console.log('handled'), (e) => { console.error(e.message); process.exit(1); })`,
        ],
        {
          cwd: dir,
          encoding: 'utf8',
          env: {
            PATH: process.env.PATH,
            AWS_REGION: 'eu-west-1',
            LAMBDA_TASK_ROOT: dir,
            PIPELINE_SETTINGS: packaged.environmentJson,
          },
        },
      );
    const ran = invoke();
    expect(ran.status).toBe(0);
    expect(ran.stdout).toContain('handled');

    writeFileSync(join(dir, SETTINGS_FILE), JSON.stringify({ namePrefix: 'aurora-export' }));
    const incomplete = invoke();
    expect(incomplete.status).toBe(1);
    expect(incomplete.stderr).toMatch(/sourceClusters/);

    unlinkSync(join(dir, SETTINGS_FILE));
    const missing = invoke();
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${join(dir, SETTINGS_FILE)} cannot be read (ENOENT)`);
  });
});

describe('Zip memo', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'bundle-memo-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));
  const bundle = () => bundleLambdas([{ name: 'probe', entry: FIXTURE }], { outDir }).get('probe')!;

  it('reads the zip an earlier synth made of the same input instead of compressing it again', () => {
    const first = bundle();
    const memos = readdirSync(join(outDir, 'inputs'));
    expect(memos).toHaveLength(1);
    expect(readFileSync(join(outDir, 'inputs', memos[0]), 'utf8')).toBe(`${first.sha256Hex}\n`);
    const again = bundle();
    expect(again).toEqual(first);
    // Proof that the memo, not a new compression, answers: point it at another zip and that zip comes back.
    const other = deterministicZip({ [HANDLER_FILE]: new TextEncoder().encode('exports.handler = 1;') });
    const otherHex = createHash('sha256').update(other).digest('hex');
    mkdirSync(join(outDir, otherHex));
    writeFileSync(join(outDir, otherHex, 'probe.zip'), other);
    writeFileSync(join(outDir, 'inputs', memos[0]), `${otherHex}\n`);
    expect(bundle().sha256Hex).toBe(otherHex);
    writeFileSync(join(outDir, 'inputs', memos[0]), `${first.sha256Hex}\n`);
  });

  it('zips again, to the same bytes, when the zip the memo names is gone or no longer hashes to its name', () => {
    const first = bundle();
    unlinkSync(first.zipPath);
    expect(bundle()).toEqual(first);
    expect(createHash('sha256').update(readFileSync(first.zipPath)).digest('hex')).toBe(first.sha256Hex);
    writeFileSync(first.zipPath, 'tampered');
    const memo = join(outDir, 'inputs', readdirSync(join(outDir, 'inputs'))[0]);
    writeFileSync(memo, 'not-a-digest\n');
    const rebuilt = bundle();
    expect(rebuilt.sha256Hex).toBe(first.sha256Hex);
    expect(readFileSync(memo, 'utf8')).toBe(`${first.sha256Hex}\n`);
  });
});

describe('Bundle memo', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'esbuild-memo-'));
  const source = mkdtempSync(join(tmpdir(), 'esbuild-memo-src-'));
  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
    rmSync(source, { recursive: true, force: true });
  });
  const entry = join(source, 'app', 'handler.ts');
  const dep = join(source, 'lib', 'dep');
  const bundle = () => bundleLambdas([{ name: 'memo', entry }], { outDir }).get('memo')!;
  const handlerCode = (zip: { zipPath: string }) =>
    Buffer.from(unzipSync(readFileSync(zip.zipPath))[HANDLER_FILE]).toString('utf8');
  const memoFile = () =>
    join(outDir, 'bundles', readdirSync(join(outDir, 'bundles')).find((f) => f.endsWith('.json'))!);

  beforeAll(() => {
    // The entry and the folder it imports live apart, so only the folder around `lib/dep/` sees `lib/dep.ts`.
    mkdirSync(join(source, 'app'));
    mkdirSync(dep, { recursive: true });
    writeFileSync(join(dep, 'index.ts'), "export const word = 'from-dep-folder';\n");
    writeFileSync(entry, "import { word } from '../lib/dep';\nexport const handler = async () => word;\n");
  });

  it('reuses the bundle of sources that did not change instead of running esbuild again', () => {
    const first = bundle();
    expect(handlerCode(first)).toContain('from-dep-folder');
    expect(bundle()).toEqual(first);
    // Proof that the memo, not a new esbuild run, answers: point it at another stored output and that comes back.
    const memo = JSON.parse(readFileSync(memoFile(), 'utf8'));
    const other = Buffer.from('exports.handler = async () => "remembered";\n');
    const otherHex = createHash('sha256').update(other).digest('hex');
    writeFileSync(join(outDir, 'bundles', `${otherHex}.js`), other);
    writeFileSync(memoFile(), JSON.stringify({ ...memo, outputs: { memo: otherHex } }));
    expect(handlerCode(bundle())).toContain('remembered');
    writeFileSync(memoFile(), JSON.stringify(memo));
    expect(bundle()).toEqual(first);
  });

  it('bundles again when a file it read changes', () => {
    writeFileSync(join(dep, 'index.ts'), "export const word = 'changed-in-folder';\n");
    expect(handlerCode(bundle())).toContain('changed-in-folder');
  });

  it('bundles again when a new file would resolve in place of one it read', () => {
    writeFileSync(`${dep}.ts`, "export const word = 'from-dep-file';\n");
    const shadowed = handlerCode(bundle());
    expect(shadowed).toContain('from-dep-file');
    expect(shadowed).not.toContain('changed-in-folder');
  });

  it('bundles again when a stored output no longer hashes to its name', () => {
    const before = bundle();
    const memo = JSON.parse(readFileSync(memoFile(), 'utf8'));
    writeFileSync(join(outDir, 'bundles', `${memo.outputs.memo}.js`), 'tampered');
    expect(bundle()).toEqual(before);
  });
});

describe('The stage bundles', () => {
  /** The code of a stage's bundle, as Lambda unzips it. */
  const handlerCode = (bundles: Map<string, { zipPath: string }>, stage: string) =>
    Buffer.from(unzipSync(readFileSync(bundles.get(stage)?.zipPath ?? ''))[HANDLER_FILE] ?? []).toString('utf8');

  it('leave the X-Ray SDK out of the copy function only: its async hook would track every promise of the copies', () => {
    const bundles = handlerBundles();
    // The SDK's automatic mode: the async hook of cls-hooked, set up when the SDK loads.
    const xraySdk = /AWS_XRAY_CONTEXT_MISSING/;
    expect(handlerCode(bundles, 'copy')).not.toMatch(xraySdk);
    for (const stage of [...bundles.keys()].filter((s) => s !== 'copy'))
      expect({ stage, traced: xraySdk.test(handlerCode(bundles, stage)) }).toEqual({ stage, traced: true });
  });
});
