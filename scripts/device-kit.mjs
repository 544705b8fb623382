// Packs what `bench/gpu-check.sh` needs on a lent GPU machine that has no Node, no npm registry and no
// network: this machine's Node binary, the built engine (dist/, the generated shaders), the node_modules the
// CLI and the test runner load (Dawn for linux-x64 only) and the shared data files the GPU cases read, as
// one tarball, plus the Vulkan loader's Debian packages for a machine whose image lacks it. Writes
// `.devkit/` (git-ignored); `bench/device-run.sh` unpacks it there and runs the check.
//
//   node scripts/device-kit.mjs                 build dist/ and the kit
//   node scripts/device-kit.mjs --no-build      use dist/ as it is
//   node scripts/device-kit.mjs --level 0       no compression (fast; for testing the kit)
//   node scripts/device-kit.mjs --no-debs       skip the Vulkan loader packages (they need apt)
//   node scripts/device-kit.mjs --out DIR       write the kit to DIR instead of .devkit
//
// The kit and the working tree travel together and must stay under the device tool's 64 MiB; the script
// refuses a kit that leaves no room for the tree.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** What travels to the device at most (the device tool's limit), and what the kit may take of it. */
const TRAVEL_LIMIT = 64 * 2 ** 20;
const TREE_ALLOWANCE = 12 * 2 ** 20;
/** The Debian packages of the Vulkan loader and the GL vendor-neutral dispatch the NVIDIA driver's ICD loads. */
const DEBS = ['libvulkan1', 'libglvnd0', 'libegl1', 'libgles2', 'libopengl0', 'libgl1', 'libglx0'];
/** Packages the device run loads besides the production dependencies: the test runner. */
const EXTRA_ROOTS = ['vitest', 'vite'];
/** Dawn's builds for other platforms (the device is linux-x64). */
const DAWN_KEEP = 'linux-x64';

const { values: opts } = parseArgs({
  options: {
    'no-build': { type: 'boolean' },
    'no-debs': { type: 'boolean' },
    level: { type: 'string', default: '6' },
    out: { type: 'string' },
  },
});
const level = Number(opts.level);
if (!Number.isInteger(level) || level < 0 || level > 9) fail(`--level must be an integer 0…9, got ${opts.level}`);
const out = resolve(opts.out ?? join(root, '.devkit'));

function fail(msg) {
  console.error(`device-kit: ${msg}`);
  process.exit(1);
}
const log = (msg) => console.error(`device-kit: ${msg}`);

if (process.platform !== 'linux' || process.arch !== 'x64') fail(`the device is linux-x64; this Node is ${process.platform}-${process.arch}`);
if (!existsSync(join(root, 'node_modules', 'webgpu'))) fail('node_modules/webgpu not found; run `npm ci` first');

if (!opts['no-build']) {
  log('building dist/ (npm run gen, tsc)');
  execFileSync('npm', ['run', '--silent', 'gen'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
}
for (const f of ['dist/src/cli/main.js', 'src/gpu/shaders.generated.ts']) {
  if (!existsSync(join(root, f))) fail(`${f} not found; run without --no-build (or \`npm run gen && npx tsc -p tsconfig.json\`)`);
}

/**
 * The package folders Node resolves from the roots, following dependencies, optional and peer dependencies
 * that are installed (Node's lookup: the nearest node_modules/NAME upwards from the dependent package).
 */
function dependencyClosure(roots) {
  const found = new Set();
  const visit = (fromDir, name, required) => {
    let dir = fromDir;
    for (;;) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) {
        if (found.has(candidate)) return;
        found.add(candidate);
        const pkg = JSON.parse(readFileSync(join(candidate, 'package.json'), 'utf8'));
        for (const d of Object.keys(pkg.dependencies ?? {})) visit(candidate, d, true);
        for (const d of [...Object.keys(pkg.optionalDependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]) visit(candidate, d, false);
        return;
      }
      if (dir === root) break;
      dir = dirname(dir);
    }
    if (required) fail(`${name} (needed from ${relative(root, fromDir) || 'the project'}) is not installed; run \`npm ci\``);
  };
  for (const r of roots) visit(root, r, true);
  return [...found].sort();
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const packages = dependencyClosure([...Object.keys(pkg.dependencies ?? {}), ...EXTRA_ROOTS]);
log(`${packages.length} packages`);

// One tar run from the folders in place (no staging copy): the packages (nested node_modules of a package come
// along with it; those outside the closure are harmless), dist/ without source maps, Dawn's linux-x64 build only,
// the shared data as .devkit-shared/data and this Node as .devkit-bin/node.
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const meta = mkdtempSync(join(tmpdir(), 'devkit-'));
try {
  writeFileSync(
    join(meta, '.devkit-manifest.json'),
    JSON.stringify({ node: process.version, commit: gitHead(), built: new Date().toISOString(), packages: packages.length }, null, 1) + '\n',
  );
  const dawnDist = join(root, 'node_modules', 'webgpu', 'dist');
  const excludes = readdirSync(dawnDist)
    .filter((d) => d !== DAWN_KEEP)
    .map((d) => `--exclude=node_modules/webgpu/dist/${d}`);
  const shared = join(root, '..', 'shared');
  if (!existsSync(join(shared, 'data'))) log('../shared/data not found: the device run will lack the cases that read it');
  const tarball = join(out, level === 0 ? 'runtime.tar' : 'runtime.tar.xz');
  log(`packing ${tarball}${level ? ` (xz -${level})` : ''}`);
  const args = [
    level ? '-cJf' : '-cf',
    tarball,
    ...excludes,
    '--exclude=dist/*.map',
    // member names: .devkit-shared/data/…, .devkit-bin/node (the exact member `node` only)
    '--transform=s,^data/,.devkit-shared/data/,',
    '--transform=s,^node$,.devkit-bin/node,',
    '-C',
    root,
    ...packages.map((p) => relative(root, p)),
    'dist',
    'src/gpu/shaders.generated.ts',
    '-C',
    meta,
    '.devkit-manifest.json',
    ...(existsSync(join(shared, 'data')) ? ['-C', shared, 'data'] : []),
    '-C',
    dirname(process.execPath),
    basename(process.execPath),
  ];
  if (basename(process.execPath) !== 'node') fail(`this Node's binary is named ${basename(process.execPath)}, not node`);
  const tar = spawnSync('tar', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, XZ_OPT: `-${level} -T0` } });
  if (tar.status !== 0) fail('tar failed');
} finally {
  rmSync(meta, { recursive: true, force: true });
}

if (!opts['no-debs']) downloadDebs(join(out, 'debs'));

const bytes = folderBytes(out);
log(`kit: ${(bytes / 2 ** 20).toFixed(1)} MiB in ${relative(root, out) || out}`);
if (bytes > TRAVEL_LIMIT - TREE_ALLOWANCE) {
  // an uncompressed kit (--level 0) is for testing the kit on this machine; it never travels
  (level === 0 ? log : fail)(
    `the kit (${(bytes / 2 ** 20).toFixed(1)} MiB) leaves less than ${TREE_ALLOWANCE / 2 ** 20} MiB of the device's ${TRAVEL_LIMIT / 2 ** 20} MiB for the working tree`,
  );
}
console.log(JSON.stringify({ kit: relative(root, out) || out, bytes, node: process.version }));

function gitHead() {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function folderBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size;
  return n;
}

/** The amd64 packages from this machine's Debian sources, with apt's lists kept apart from the system's. */
function downloadDebs(dir) {
  mkdirSync(dir, { recursive: true });
  const lists = mkdtempSync(join(tmpdir(), 'devkit-apt-'));
  mkdirSync(join(lists, 'partial'));
  const aptOpts = [
    '-o',
    'APT::Sandbox::User=root',
    '-o',
    'APT::Architecture=amd64',
    '-o',
    'APT::Architectures=amd64',
    '-o',
    `Dir::State::Lists=${lists}`,
    '-qq',
  ];
  try {
    const update = spawnSync('apt-get', [...aptOpts, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const download = update.status === 0 && spawnSync('apt-get', [...aptOpts, 'download', ...DEBS], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    if (!download || download.status !== 0) {
      log(`apt-get could not download ${DEBS.join(' ')}: the kit has no Vulkan loader (enough where the device image has one)`);
      rmSync(dir, { recursive: true, force: true });
    } else log(`debs: ${readdirSync(dir).join(' ')}`);
  } finally {
    rmSync(lists, { recursive: true, force: true });
  }
}
