/**
 * The payoff of a multi-stage build, in numbers: what each stage weighs, what
 * the final image weighs, and how much of the stages it read from (COPY
 * --from, RUN --mount=from) it left behind. Pure: sizes in, lines out.
 */

export interface StageSize {
  /** `builder`, or `stage-1` for an unnamed stage. */
  name: string;
  /** Bytes of the stage's whole filesystem (all layers, uncompressed). */
  size: number;
  /** Layers in total and how many this build made. */
  layers: number;
  builtLayers: number;
}

export interface FinalImage {
  ref: string | undefined;
  stage: string;
  size: number;
  /** Bytes the final image's COPY --from steps took from each stage. */
  copiedFrom: ReadonlyArray<{ stage: string; bytes: number }>;
  /**
   * Stages the final stage's RUN steps mounted (`RUN --mount=from=<stage>`):
   * they were needed and read, but nothing of them was copied as such.
   */
  mountedFrom?: ReadonlyArray<{ stage: string }> | undefined;
}

/** Sizes as `docker images` prints them: decimal units, three significant digits. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v >= 100 || i === 0 ? 0 : v >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits))} ${units[i]}`;
}

/** Percent of `from` that is not in `to`, floored at 0. */
export function leftBehindPercent(from: number, to: number): number {
  if (from <= 0) return 0;
  return Math.max(0, Math.round((1 - to / from) * 100));
}

export function sizeSummary(stages: ReadonlyArray<StageSize>, final: FinalImage): string[] {
  const lines: string[] = [];
  const width = Math.max(5, ...stages.map((s) => s.name.length));
  lines.push('Stages:');
  for (const s of stages) {
    const mark = s.name === final.stage ? '  (final)' : '';
    lines.push(`  ${s.name.padEnd(width)}  ${humanSize(s.size).padStart(9)}  ${s.layers} layers, ${s.builtLayers} built${mark}`);
  }
  lines.push(`Final image ${final.ref ?? '(untagged)'}: ${humanSize(final.size)}`);
  // Stages the final image read from, in order of first use: copied (COPY --from) and/or mounted (RUN --mount=from).
  const byStage = new Map<string, { copied?: number; mounted?: boolean }>();
  for (const c of final.copiedFrom) {
    const e = byStage.get(c.stage) ?? {};
    e.copied = (e.copied ?? 0) + c.bytes;
    byStage.set(c.stage, e);
  }
  for (const m of final.mountedFrom ?? []) {
    const e = byStage.get(m.stage) ?? {};
    e.mounted = true;
    byStage.set(m.stage, e);
  }
  for (const [stage, use] of byStage) {
    const src = stages.find((s) => s.name === stage);
    if (!src || stage === final.stage) continue;
    const pct = leftBehindPercent(src.size, final.size);
    const how =
      use.copied !== undefined
        ? `copied ${humanSize(use.copied)} from ${stage}${use.mounted ? ', and read it through RUN --mount' : ''}`
        : `read through RUN --mount, nothing copied`;
    lines.push(`  ${stage} ${humanSize(src.size)} -> ${final.stage} ${humanSize(final.size)} (${pct}% left behind; ${how})`);
  }
  return lines;
}
