/**
 * The benchmark cases: each writes its build context (Dockerfile included)
 * into a fresh directory and says which base images it needs, which modes it
 * runs in, and how to make a new one-line change for `incr`.
 *
 * Modes (the issue's definitions, plus `no-cache`):
 * - `cold`: each tool starts with no build cache and no local images, so the
 *   timed build pulls its base images from the loopback registry;
 * - `no-cache`: `--no-cache`, base images already local (every step runs);
 * - `noop`: a rebuild with nothing changed;
 * - `incr`: a rebuild after a new one-line change to one source file.
 */
import { cp, mkdir, readFile, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exampleBases, type BaseImageName, type ExampleName } from '../support/base-images.js';

export type Mode = 'cold' | 'no-cache' | 'noop' | 'incr';

/** The modes of the multi-stage cases, in the order they run and are reported. */
export const MULTI_STAGE_MODES: readonly Mode[] = ['cold', 'no-cache', 'noop', 'incr'];

export interface Sizes {
  /** Files and MB each fan-out stage creates. */
  fanoutFiles: number;
  fanoutMb: number;
  /** Files in the COPY context. */
  copyFiles: number;
  /** File counts for the kaniko file-count case. */
  fileCounts: number[];
  /** MB of random layer content for the small and large memory images. */
  memorySmallMb: number;
  memoryLargeMb: number;
}

export const FULL_SIZES: Sizes = {
  fanoutFiles: 2500, fanoutMb: 20, copyFiles: 20_000, fileCounts: [10_000, 100_000, 300_000], memorySmallMb: 10, memoryLargeMb: 1536,
};
export const QUICK_SIZES: Sizes = {
  fanoutFiles: 1000, fanoutMb: 4, copyFiles: 2000, fileCounts: [1000, 10_000], memorySmallMb: 10, memoryLargeMb: 256,
};

export interface Prepared {
  context: string;
  buildArgs: Record<string, string>;
  /** Makes a new one-line change to one source file (never seen before by any builder). */
  change?: () => Promise<void>;
}

export interface BuildScenario {
  kind: 'build';
  name: string;
  /** What it measures (docs/performance.md says the same). */
  about: string;
  bases: BaseImageName[];
  modes: Mode[];
  prepare(dir: string, sizes: Sizes): Promise<Prepared>;
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));
let nonce = 0;
function fresh(): string {
  return `${process.pid}-${Date.now()}-${++nonce}`;
}

/** `n` empty files in directories of 1000, made by busybox in one shell line. */
function makeFilesShell(dir: string, n: number): string {
  const full = Math.floor(n / 1000);
  const rest = n % 1000;
  const parts = [`mkdir -p ${dir} && cd ${dir}`];
  if (full > 0) parts.push(`for d in $(seq 1 ${full}); do mkdir d$d && (cd d$d && seq 1 1000 | xargs touch); done`);
  if (rest > 0) parts.push(`mkdir r && (cd r && seq 1 ${rest} | xargs touch)`);
  return parts.join(' && ');
}

const ARG = 'ARG REGISTRY\n';

/**
 * A case built from one of the examples in examples/: the `# syntax=` line is
 * removed (BuildKit would fetch that frontend image from Docker Hub, which
 * this machine cannot reach), and `incr` appends a comment to `changed`.
 */
function exampleScenario(name: ExampleName, about: string, changed: string, comment: (text: string) => string): BuildScenario {
  return {
    kind: 'build',
    name,
    about,
    bases: [...exampleBases[name]],
    modes: [...MULTI_STAGE_MODES],
    async prepare(dir) {
      await cp(join(REPO, 'examples', name), dir, { recursive: true });
      const df = join(dir, 'Dockerfile');
      await writeFile(df, (await readFile(df, 'utf8')).replace(/^# syntax=.*\n/m, ''));
      return { context: dir, buildArgs: {}, change: () => appendFile(join(dir, changed), `${comment(`bench change ${fresh()}`)}\n`) };
    },
  };
}

export const pythonApp = exampleScenario('python-app',
  'examples/python-app: python:3.11-build compiles a C extension with pip, python:3.11-slim gets the installed packages and app.py',
  'app.py', (t) => `# ${t}`);

export const nodeApp = exampleScenario('node-app',
  'examples/node-app: node:18-bookworm runs npm ci on vendored package tarballs, node:18-bookworm-slim gets node_modules and index.js',
  'index.js', (t) => `// ${t}`);

export const goApp = exampleScenario('go-app',
  'examples/go-app: golang:bookworm compiles a static binary, busybox gets the binary alone',
  'main.go', (t) => `// ${t}`);

export const buildToRuntime: BuildScenario = {
  kind: 'build',
  name: 'debian-to-busybox',
  about: 'debian:bookworm-slim builds an artifact from 300 source files (tar + sha256), busybox runs it: the copy-the-artifact multi-stage pattern',
  bases: ['debian:bookworm-slim', 'busybox:latest'],
  modes: [...MULTI_STAGE_MODES],
  async prepare(dir) {
    await mkdir(join(dir, 'src'), { recursive: true });
    for (let i = 0; i < 300; i++) await writeFile(join(dir, 'src', `mod${i}.c`), `int f${i}(int x) { return x * ${i}; }\n`.repeat(20));
    await writeFile(join(dir, 'Dockerfile'), `${ARG}FROM \${REGISTRY}/debian:bookworm-slim AS build
WORKDIR /src
COPY src/ ./
RUN mkdir /out && tar -cf /out/app.tar . && gzip -9 /out/app.tar && sha256sum /out/app.tar.gz > /out/app.sum

FROM \${REGISTRY}/busybox:latest
COPY --from=build /out/ /app/
CMD ["cat", "/app/app.sum"]
`);
    return { context: dir, buildArgs: {}, change: () => appendFile(join(dir, 'src', 'mod7.c'), `/* ${fresh()} */\n`) };
  },
};

export const fanout: BuildScenario = {
  kind: 'build',
  name: 'fan-out-4',
  about: 'four independent busybox stages, each creating thousands of files and tens of MB, joined by a final stage (the DAG scheduler runs them concurrently)',
  bases: ['busybox:latest'],
  modes: [...MULTI_STAGE_MODES],
  async prepare(dir, sizes) {
    await mkdir(join(dir, 'src'), { recursive: true });
    const stages: string[] = [];
    for (let s = 1; s <= 4; s++) {
      await writeFile(join(dir, 'src', `s${s}.txt`), `stage ${s}\n`);
      stages.push(`FROM base AS s${s}
COPY src/s${s}.txt /src/
RUN ${makeFilesShell(`/out/s${s}`, sizes.fanoutFiles)} && dd if=/dev/urandom of=/out/s${s}/blob bs=1M count=${sizes.fanoutMb} 2>/dev/null && cp /src/s${s}.txt /out/s${s}/stamp
`);
    }
    await writeFile(join(dir, 'Dockerfile'), `${ARG}FROM \${REGISTRY}/busybox:latest AS base
RUN mkdir -p /out

${stages.join('\n')}
FROM base
${[1, 2, 3, 4].map((s) => `COPY --from=s${s} /out/s${s} /out/s${s}`).join('\n')}
`);
    return { context: dir, buildArgs: {}, change: () => appendFile(join(dir, 'src', 's2.txt'), `${fresh()}\n`) };
  },
};

export const unusedStages: BuildScenario = {
  kind: 'build',
  name: 'unused-stages',
  about: 'six stages, two of them unused by the target (each unused one sleeps 3 s and writes 50 MB, so building them shows)',
  bases: ['busybox:latest', 'debian:bookworm-slim'],
  modes: [...MULTI_STAGE_MODES],
  async prepare(dir) {
    await writeFile(join(dir, 'app.txt'), 'app\n');
    await writeFile(join(dir, 'Dockerfile'), `${ARG}FROM \${REGISTRY}/busybox:latest AS base
RUN echo base > /base

FROM base AS unused-a
RUN sleep 3 && dd if=/dev/urandom of=/big bs=1M count=50 2>/dev/null

FROM \${REGISTRY}/debian:bookworm-slim AS unused-b
RUN sleep 3 && dd if=/dev/urandom of=/big bs=1M count=50 2>/dev/null

FROM base AS lib
RUN mkdir /lib2 && echo lib > /lib2/lib.txt

FROM base AS app
COPY app.txt /app.txt
RUN cat /app.txt > /app.out

FROM base
COPY --from=lib /lib2 /lib2
COPY --from=app /app.out /app.out
`);
    return { context: dir, buildArgs: {}, change: () => appendFile(join(dir, 'app.txt'), `${fresh()}\n`) };
  },
};

export const copyContext: BuildScenario = {
  kind: 'build',
  name: 'copy-20k',
  about: 'COPY of a context with 20k small files (quick: 2k) into busybox, then a RUN that counts them',
  bases: ['busybox:latest'],
  modes: [...MULTI_STAGE_MODES],
  async prepare(dir, sizes) {
    const per = 100;
    for (let d = 0; d < Math.ceil(sizes.copyFiles / per); d++) {
      const sub = join(dir, 'files', `d${d}`);
      await mkdir(sub, { recursive: true });
      const n = Math.min(per, sizes.copyFiles - d * per);
      await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(sub, `f${i}.txt`), `file ${d}/${i}\n`.repeat(8))));
    }
    await writeFile(join(dir, 'Dockerfile'), `${ARG}FROM \${REGISTRY}/busybox:latest
COPY files/ /files/
RUN find /files -type f | wc -l > /count
`);
    return { context: dir, buildArgs: {}, change: () => appendFile(join(dir, 'files', 'd3', 'f5.txt'), `${fresh()}\n`) };
  },
};

/** The kaniko file-count case: one RUN creating `n` files. */
export function fileCountContext(n: number): BuildScenario {
  return {
    kind: 'build',
    name: `files-${n >= 1000 ? `${n / 1000}k` : n}`,
    about: `one RUN creating ${n} empty files (directories of 1000) in busybox; cold only (busybox pulled in the timed build)`,
    bases: ['busybox:latest'],
    modes: ['cold'],
    async prepare(dir) {
      await writeFile(join(dir, 'Dockerfile'), `${ARG}FROM \${REGISTRY}/busybox:latest\nRUN ${makeFilesShell('/many', n)}\n`);
      return { context: dir, buildArgs: {} };
    },
  };
}

/** A tiny build for the startup rows: its no-op rebuild is almost all fixed cost. */
export async function tinyContext(dir: string): Promise<Prepared> {
  await writeFile(join(dir, 'Dockerfile'), `${ARG}FROM \${REGISTRY}/busybox:latest\nRUN echo hello > /hello\n`);
  return { context: dir, buildArgs: {} };
}

/** An image with `mb` MB of random layer content in 64 MB files. */
export async function memoryContext(dir: string, mb: number): Promise<Prepared> {
  const chunk = 64;
  const files = Math.max(1, Math.ceil(mb / chunk));
  const per = Math.min(mb, chunk);
  const run = Array.from({ length: files }, (_, i) => `dd if=/dev/urandom of=/data/r${i} bs=1M count=${i === files - 1 ? mb - per * (files - 1) : per} 2>/dev/null`).join(' && ');
  await writeFile(join(dir, 'Dockerfile'), `${ARG}FROM \${REGISTRY}/busybox:latest\nRUN mkdir /data && ${run}\n`);
  return { context: dir, buildArgs: {} };
}

export const SCENARIO_NAMES = ['python-app', 'node-app', 'go-app', 'debian-to-busybox', 'fan-out-4', 'unused-stages', 'copy-20k', 'files', 'startup', 'memory'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const buildScenarios: Record<Exclude<ScenarioName, 'files' | 'startup' | 'memory'>, BuildScenario> = {
  'python-app': pythonApp,
  'node-app': nodeApp,
  'go-app': goApp,
  'debian-to-busybox': buildToRuntime,
  'fan-out-4': fanout,
  'unused-stages': unusedStages,
  'copy-20k': copyContext,
};
