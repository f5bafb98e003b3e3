/**
 * Benchmark arithmetic and the Markdown it prints: medians, ratios and the
 * tables. Pure, so the smoke test can check it without running a builder.
 */

export const TOOLS = ['stagecraft', 'buildkit', 'buildah'] as const;
export type Tool = (typeof TOOLS)[number];

export const TOOL_LABEL: Record<Tool, string> = { stagecraft: 'stagecraft', buildkit: 'BuildKit', buildah: 'buildah' };

/** One timed run of one tool: wall seconds, or why there is no number. */
export type Sample =
  | { ok: true; seconds: number; peakRssBytes?: number }
  | { ok: false; reason: 'timeout' | 'failed' | 'skipped'; seconds?: number; message?: string };

export interface Row {
  /** Benchmark case, e.g. `python-app`. */
  scenario: string;
  /** cold, no-cache, noop, incr, --version, ... */
  mode: string;
  samples: Record<Tool, Sample[]>;
  /** Files a file-count row creates (for seconds per file). */
  files?: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median seconds of the successful samples; NaN when any run failed or none ran. */
export function medianSeconds(samples: readonly Sample[]): number {
  if (samples.length === 0 || samples.some((s) => !s.ok)) return Number.NaN;
  return median(samples.map((s) => (s as { seconds: number }).seconds));
}

/** Highest peak RSS over the samples (bytes), or undefined when none was measured. */
export function peakRss(samples: readonly Sample[]): number | undefined {
  const xs = samples.flatMap((s) => (s.ok && s.peakRssBytes !== undefined ? [s.peakRssBytes] : []));
  return xs.length ? Math.max(...xs) : undefined;
}

function fmtSeconds(s: number): string {
  if (s < 1) return s.toFixed(3);
  if (s < 10) return s.toFixed(2);
  return s.toFixed(1);
}

/** A cell: `1.23` seconds, or what happened instead (`timeout > 600 s`, `failed`). */
export function cell(samples: readonly Sample[]): string {
  if (samples.length === 0) return 'n/a';
  const bad = samples.find((s) => !s.ok) as Extract<Sample, { ok: false }> | undefined;
  if (bad) {
    if (bad.reason === 'timeout') return `timeout > ${fmtSeconds(bad.seconds ?? Number.NaN)} s`;
    return bad.reason;
  }
  return fmtSeconds(medianSeconds(samples));
}

export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return 'n/a';
  return a / b >= 10 ? (a / b).toFixed(1) : (a / b).toFixed(2);
}

function mb(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${Math.round(bytes / 1_048_576)}`;
}

function runsOf(row: Row): number {
  return Math.max(...TOOLS.map((t) => row.samples[t].length));
}

/** The main table: one line per case and mode, medians in seconds, ratios, stagecraft's peak RSS. */
export function mainTable(rows: readonly Row[]): string {
  const head = '| case | mode | runs | stagecraft s | BuildKit s | buildah s | stagecraft/BuildKit | stagecraft/buildah | stagecraft peak RSS MiB |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map((r) => {
    const sc = medianSeconds(r.samples.stagecraft);
    return `| ${r.scenario} | ${r.mode} | ${runsOf(r)} | ${cell(r.samples.stagecraft)} | ${cell(r.samples.buildkit)} | ${cell(r.samples.buildah)} | ` +
      `${ratio(sc, medianSeconds(r.samples.buildkit))} | ${ratio(sc, medianSeconds(r.samples.buildah))} | ${mb(peakRss(r.samples.stagecraft))} |`;
  });
  return [head, sep, ...lines].join('\n');
}

/** File-count scaling: seconds and microseconds per file for each tool. */
export function fileCountTable(rows: readonly Row[]): string {
  const fileRows = rows.filter((r) => r.files !== undefined);
  if (fileRows.length === 0) return '';
  const head = '| files | stagecraft s | BuildKit s | buildah s | stagecraft µs/file | BuildKit µs/file | buildah µs/file |' +
    ' stagecraft µs/extra file | BuildKit µs/extra file | buildah µs/extra file |';
  const sep = '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const perFile = (r: Row, t: Tool): string => {
    const s = medianSeconds(r.samples[t]);
    return Number.isFinite(s) ? ((s * 1e6) / r.files!).toFixed(1) : 'n/a';
  };
  // The slope from the previous row: what each added file costs, without the fixed cost of a build.
  const marginal = (prev: Row | undefined, r: Row, t: Tool): string => {
    if (!prev) return '';
    const d = medianSeconds(r.samples[t]) - medianSeconds(prev.samples[t]);
    return Number.isFinite(d) && r.files! > prev.files! ? ((d * 1e6) / (r.files! - prev.files!)).toFixed(1) : 'n/a';
  };
  const lines = fileRows.map((r, i) => `| ${r.files} | ${TOOLS.map((t) => cell(r.samples[t])).join(' | ')} | ` +
    `${TOOLS.map((t) => perFile(r, t)).join(' | ')} | ${TOOLS.map((t) => marginal(fileRows[i - 1], r, t)).join(' | ')} |`);
  return [head, sep, ...lines].join('\n');
}

/** Failure messages worth printing under the tables (first line of each, once). */
export function failureNotes(rows: readonly Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    for (const t of TOOLS) {
      for (const s of r.samples[t]) {
        if (!s.ok && s.message) {
          const note = `${TOOL_LABEL[t]} ${r.scenario} ${r.mode}: ${s.reason}: ${s.message.split('\n').filter(Boolean).slice(-3).join(' / ').slice(0, 400)}`;
          if (!out.includes(note)) out.push(note);
        }
      }
    }
  }
  return out;
}
