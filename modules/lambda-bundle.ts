import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { type BuildOptions, buildSync, version as ESBUILD_VERSION } from 'esbuild';
import { unzipSync, zipSync } from 'fflate';

/**
 * Bundles Lambda handlers with esbuild and zips each one deterministically, so the same source always gives
 * the same zip bytes and the same `source_code_hash`: an unchanged pipeline never shows a plan diff.
 */

/** Repository root: handler entries and node_modules are resolved from here. */
export const REPO_ROOT = resolve(__dirname, '..');

/** One function to bundle: its name (the zip's name) and its TypeScript entry file. */
export interface BundleEntry {
  readonly name: string;
  /** Entry file, absolute or relative to the repository root. */
  readonly entry: string;
}

/** A bundled function, ready to hand to Terraform. */
export interface LambdaZip {
  readonly name: string;
  /** The zip file: `<outDir>/<sha256>/<name>.zip`. */
  readonly zipPath: string;
  /** Base64 SHA-256 of the zip: the value of `source_code_hash`. */
  readonly sourceCodeHash: string;
  /** Hex SHA-256 of the zip, usable as an asset folder name. */
  readonly sha256Hex: string;
  readonly sizeBytes: number;
  /** Total size of the files inside, as Lambda counts a package's unzipped size. */
  readonly unzippedSizeBytes: number;
}

/** Options of {@link bundleLambdas}. */
export interface BundleOptions {
  /**
   * Bundle the AWS SDK v3 into every zip (true) or leave it to the copy the nodejs22.x runtime ships (false).
   * Measured on the seven handlers: bundled, each zip is ~390 KiB and esbuild takes 1-3 s of synth; left
   * out, ~115 KiB and ~0.3-0.7 s. The handlers only use long-standing client APIs, so the runtime's copy
   * (which lags our pinned version) serves them; turn this on if a handler needs a newer SDK feature.
   * @default false
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * Folder the zips are written to, each under a folder named after its SHA-256 (so concurrent synths never
   * clash and the same code is written once).
   * @default `build/lambda` in the repository (git-ignored)
   */
  readonly outDir?: string;
}

/** Name of the file inside every zip; the Lambda handler is therefore `index.handler`. */
export const HANDLER_FILE = 'index.js';
export const LAMBDA_HANDLER = 'index.handler';

/**
 * DOS timestamps carry no zone and fflate reads local-time fields, so the fixed timestamp is built from local
 * fields: every machine writes the same bytes whatever its TZ.
 */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
/** Unix regular file, rw-r--r--, in the upper 16 bits of the external attributes; `os: 3` = Unix. */
const FILE_ATTRS = (0o100644 << 16) >>> 0;
const UNIX = 3;

/** Where zips go by default. */
export const DEFAULT_ZIP_DIR = join(REPO_ROOT, 'build', 'lambda');

/** Writes a content-addressed file atomically (write aside, then rename), once. */
function writeOnce(path: string, bytes: Uint8Array): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const aside = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(aside, bytes);
  renameSync(aside, path);
}

/** Zips files deterministically: sorted entries, fixed timestamp, fixed modes, maximum compression. */
export function deterministicZip(files: Readonly<Record<string, Uint8Array>>): Uint8Array {
  const sorted = Object.keys(files).sort();
  const input: Record<string, [Uint8Array, { mtime: Date; os: number; attrs: number; level: 9 }]> = {};
  for (const name of sorted) input[name] = [files[name], { mtime: FIXED_MTIME, os: UNIX, attrs: FILE_ATTRS, level: 9 }];
  return zipSync(input);
}

/** Bundles every entry in one esbuild call (target node22, CommonJS, minified) and zips each output. */
export function bundleLambdas(entries: readonly BundleEntry[], options: BundleOptions = {}): Map<string, LambdaZip> {
  const missing = entries.filter((e) => !existsSync(resolve(REPO_ROOT, e.entry)));
  if (missing.length > 0) {
    throw new Error(
      `Cannot bundle the Lambda functions: missing handler file(s) ${missing.map((e) => `${e.entry} (${e.name})`).join(', ')}`,
    );
  }
  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name)) throw new Error(`Two Lambda bundles are named ${e.name}`);
    names.add(e.name);
  }
  const bundleAwsSdk = options.bundleAwsSdk ?? false;
  const esbuildOptions: BuildOptions = {
    absWorkingDir: REPO_ROOT,
    entryPoints: entries.map((e) => ({ in: resolve(REPO_ROOT, e.entry), out: e.name })),
    outdir: '/bundle-out',
    entryNames: '[name]',
    bundle: true,
    write: false,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'silent',
    // The runtime ships the SDK v3 clients as @aws-sdk/*; anything else (Powertools, zod, our code) is bundled.
    external: bundleAwsSdk ? [] : ['@aws-sdk/*'],
    // Some dependencies pick an ESM build with `module`; prefer the Node CommonJS entry points.
    mainFields: ['main', 'module'],
  };
  const outDir = options.outDir ?? DEFAULT_ZIP_DIR;
  const bundles = memoizedBuild(esbuildOptions, entries, outDir);
  const zips = new Map<string, LambdaZip>();
  for (const e of entries) zips.set(e.name, writeZip(e.name, { [HANDLER_FILE]: bundles[e.name] }, outDir));
  return zips;
}

/**
 * What an esbuild run read, recorded beside its outputs: the digest of every input file; the entry names of every
 * folder holding an input, and of the parent of a folder whose `index` file is an input (so a new file that would
 * resolve in place of an input, such as `foo.ts` beside `foo/index.ts`, is seen); the digest of every output.
 */
interface BundleMemo {
  readonly inputs: Record<string, string>;
  readonly folders: Record<string, string>;
  readonly outputs: Record<string, string>;
}

const sha256Hex = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** Digest of a folder's entry names, or `absent`. */
function folderDigest(folder: string): string {
  return existsSync(folder) ? sha256Hex(readdirSync(folder).sort().join('\0')) : 'absent';
}

/** Files every bundle depends on besides its inputs: what decides how imports resolve and how TypeScript reads. */
const BUNDLE_CONTEXT_FILES = ['package-lock.json', 'tsconfig.json'];

/**
 * esbuild's outputs for these options, from the memo under `<outDir>/bundles/` when nothing it read has changed
 * since (every input's bytes, the folders around them, the lockfile and tsconfig, esbuild's version and the
 * options), else from a fresh esbuild run, whose inputs are then recorded. Bundling is most of a synth whose zips
 * are memoized, and its output depends only on what it read; a memo that does not check out is rebuilt.
 */
function memoizedBuild(
  esbuildOptions: BuildOptions,
  entries: readonly BundleEntry[],
  outDir: string,
): Record<string, Uint8Array> {
  const memoDir = join(outDir, 'bundles');
  const key = createHash('sha256').update(`esbuild-${ESBUILD_VERSION}\0${JSON.stringify(esbuildOptions)}\0`);
  for (const file of BUNDLE_CONTEXT_FILES) {
    const path = join(REPO_ROOT, file);
    key.update(`${file}\0${existsSync(path) ? sha256Hex(readFileSync(path)) : 'absent'}\0`);
  }
  const memoPath = join(memoDir, `${key.digest('hex')}.json`);
  const remembered = readBundleMemo(memoPath, memoDir, entries);
  if (remembered) return remembered;

  const result = buildSync({ ...esbuildOptions, metafile: true });
  const outputs: Record<string, Uint8Array> = {};
  for (const e of entries) {
    const out = result.outputFiles?.find((f) => f.path === `/bundle-out/${e.name}.js`);
    if (!out) throw new Error(`esbuild produced no output for ${e.name}`);
    outputs[e.name] = out.contents;
  }
  const inputs: Record<string, string> = {};
  const folders: Record<string, string> = {};
  for (const input of Object.keys(result.metafile?.inputs ?? {}).sort()) {
    const path = resolve(REPO_ROOT, input);
    inputs[relative(REPO_ROOT, path)] = sha256Hex(readFileSync(path));
    // A file beside an input could resolve in its place; beside an `index` file's folder, too (`foo.ts` vs `foo/`).
    const around = /^index\./.test(basename(path)) ? [dirname(path), dirname(dirname(path))] : [dirname(path)];
    for (const folder of around) folders[relative(REPO_ROOT, folder)] = folderDigest(folder);
  }
  const recorded: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(outputs)) {
    recorded[name] = sha256Hex(bytes);
    writeOnce(join(memoDir, `${recorded[name]}.js`), bytes);
  }
  const memo: BundleMemo = { inputs, folders, outputs: recorded };
  mkdirSync(memoDir, { recursive: true });
  const aside = `${memoPath}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(aside, `${JSON.stringify(memo)}\n`);
  renameSync(aside, memoPath);
  return outputs;
}

/** The outputs a memo records, when it exists and everything it read is unchanged; otherwise undefined. */
function readBundleMemo(
  memoPath: string,
  memoDir: string,
  entries: readonly BundleEntry[],
): Record<string, Uint8Array> | undefined {
  if (!existsSync(memoPath)) return undefined;
  let memo: BundleMemo;
  try {
    memo = JSON.parse(readFileSync(memoPath, 'utf8')) as BundleMemo;
  } catch {
    return undefined;
  }
  for (const [input, digest] of Object.entries(memo.inputs ?? {})) {
    const path = resolve(REPO_ROOT, input);
    if (!existsSync(path) || sha256Hex(readFileSync(path)) !== digest) return undefined;
  }
  for (const [folder, digest] of Object.entries(memo.folders ?? {})) {
    if (folderDigest(resolve(REPO_ROOT, folder)) !== digest) return undefined;
  }
  const outputs: Record<string, Uint8Array> = {};
  for (const e of entries) {
    const digest = memo.outputs?.[e.name];
    if (!digest) return undefined;
    const path = join(memoDir, `${digest}.js`);
    if (!existsSync(path)) return undefined;
    const bytes = readFileSync(path);
    if (sha256Hex(bytes) !== digest) return undefined;
    outputs[e.name] = bytes;
  }
  return outputs;
}

/**
 * Version of the zip layout ({@link deterministicZip}'s order, timestamp, modes and level): part of every memo key,
 * so a change to the layout never reuses a zip made the old way.
 */
const ZIP_LAYOUT = 'fflate-0.8.3-level9-1980-0644-v1';

/** Digest of what goes into a zip: the layout, each file's name and bytes. Equal inputs give equal zips. */
function inputDigest(name: string, files: Readonly<Record<string, Uint8Array>>): string {
  const hash = createHash('sha256').update(`${ZIP_LAYOUT}\0${name}\0`);
  for (const file of Object.keys(files).sort()) {
    hash.update(`${file}\0${files[file].byteLength}\0`);
    hash.update(files[file]);
  }
  return hash.digest('hex');
}

/** Files of the zips made or read in this process, by zip path: adding files to a zip needs no unzip. */
const zipFiles = new Map<string, Readonly<Record<string, Uint8Array>>>();

/**
 * Zips files deterministically and writes the zip once under `<outDir>/<sha256>/<name>.zip`. Compressing is
 * most of a synth's time, and its result depends only on the input, so a memo under `<outDir>/inputs/` maps
 * each input's digest to its zip: a later synth of the same code and settings reads the zip instead, after
 * checking the zip's bytes still hash to its name (else it zips again).
 */
function writeZip(name: string, files: Readonly<Record<string, Uint8Array>>, outDir: string): LambdaZip {
  const memo = join(outDir, 'inputs', `${inputDigest(name, files)}.txt`);
  let zip: Uint8Array | undefined;
  let digest: Buffer | undefined;
  if (existsSync(memo)) {
    const zipPath = join(outDir, readFileSync(memo, 'utf8').trim(), `${name}.zip`);
    if (existsSync(zipPath)) {
      const bytes = readFileSync(zipPath);
      const hash = createHash('sha256').update(bytes).digest();
      if (join(outDir, hash.toString('hex'), `${name}.zip`) === zipPath) {
        zip = bytes;
        digest = hash;
      }
    }
  }
  if (!zip || !digest) {
    zip = deterministicZip(files);
    digest = createHash('sha256').update(zip).digest();
    writeOnce(join(outDir, digest.toString('hex'), `${name}.zip`), zip);
    rmSync(memo, { force: true }); // a memo that led nowhere is replaced
    writeOnce(memo, new TextEncoder().encode(`${digest.toString('hex')}\n`));
  }
  const zipPath = join(outDir, digest.toString('hex'), `${name}.zip`);
  zipFiles.set(zipPath, files);
  return {
    name,
    zipPath,
    sourceCodeHash: digest.toString('base64'),
    sha256Hex: digest.toString('hex'),
    sizeBytes: zip.byteLength,
    unzippedSizeBytes: Object.values(files).reduce((sum, f) => sum + f.byteLength, 0),
  };
}

/**
 * The same bundle with more files beside the handler (the packaged settings), zipped as deterministically as
 * the bundle itself and written next to it: the same code and files always give the same bytes.
 */
export function withFiles(code: LambdaZip, files: Readonly<Record<string, Uint8Array>>): LambdaZip {
  const clash = Object.keys(files).filter((f) => f === HANDLER_FILE);
  if (clash.length > 0) throw new Error(`${code.name}: ${HANDLER_FILE} is the handler and cannot be replaced`);
  const existing = zipFiles.get(code.zipPath) ?? unzipSync(readFileSync(code.zipPath));
  return writeZip(code.name, { ...existing, ...files }, dirname(dirname(code.zipPath)));
}
