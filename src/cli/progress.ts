/**
 * Renders build events. `plain`: BuildKit-style numbered lines, every line of
 * step output kept (nothing is clipped). `tty`: a live view of running steps
 * with timings above the scrolling log. `json`: one event per line.
 */
import type { BuildEvent, EventSink } from '../build/events.js';

export type ProgressMode = 'auto' | 'plain' | 'tty' | 'json' | 'quiet';

interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
}

export async function createRenderer(mode: ProgressMode, out: Out): Promise<{ sink: EventSink; close(): void }> {
  const resolved = mode === 'auto' ? (out.isTTY && !process.env.CI ? 'tty' : 'plain') : mode;
  if (resolved === 'json') return { sink: (e) => void out.write(JSON.stringify(e) + '\n'), close() {} };
  if (resolved === 'quiet') return { sink: quietSink(out), close() {} };
  // log-update and its dependencies cost about 0.14 s of start-up: loaded only for the live view.
  if (resolved === 'tty') return ttyRenderer(out, (await import('log-update')).createLogUpdate);
  return { sink: plainSink(out), close() {} };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function quietSink(out: Out): EventSink {
  return (e) => {
    if (e.type === 'warning') out.write(formatWarning(e) + '\n');
    if (e.type === 'summary') for (const l of e.lines) out.write(l + '\n');
  };
}

export function formatWarning(e: Extract<BuildEvent, { type: 'warning' }>): string {
  const where = e.location ? `${e.location.file ?? 'Dockerfile'}:${e.location.startLine}: ` : '';
  return `WARNING: ${where}${e.rule}: ${e.message}${e.fix ? ` (fix: ${e.fix})` : ''}`;
}

function plainSink(out: Out): EventSink {
  const numbers = new Map<string, number>();
  let next = 1;
  const num = (id: string): number => {
    let n = numbers.get(id);
    if (n === undefined) {
      n = next++;
      numbers.set(id, n);
    }
    return n;
  };
  const started = new Map<string, number>();
  return (e) => {
    switch (e.type) {
      case 'build-start':
        out.write(`#0 building ${e.dockerfile} (target ${e.target}; stages ${e.stages.join(', ')})\n`);
        break;
      case 'warning':
        out.write(formatWarning(e) + '\n');
        break;
      case 'resolve-start':
        out.write(`#${num('resolve ' + e.ref)} resolve ${e.ref}\n`);
        break;
      case 'resolve-done':
        out.write(`#${num('resolve ' + e.ref)} DONE ${seconds(e.durationMs)} ${e.digest} (${e.layers} layers)\n`);
        break;
      case 'step-start':
        started.set(e.id, Date.now());
        out.write(`#${num(e.id)} ${e.id} ${e.name}\n`);
        break;
      case 'step-log': {
        const t = started.get(e.id);
        const at = t === undefined ? '' : `${((Date.now() - t) / 1000).toFixed(3)} `;
        out.write(`#${num(e.id)} ${at}${e.line}\n`);
        break;
      }
      case 'step-done':
        out.write(`#${num(e.id)} ${e.cached ? 'CACHED' : `DONE ${seconds(e.durationMs)}`}\n`);
        break;
      case 'step-error':
        out.write(`#${num(e.id)} ERROR: ${e.message}\n`);
        break;
      case 'image':
        out.write(`#${next++} writing image ${e.configDigest}${e.ref ? ` naming to ${e.ref}` : ''}\n`);
        break;
      case 'summary':
        for (const l of e.lines) out.write(l + '\n');
        break;
      case 'stage-done':
      case 'build-done':
        break;
    }
  };
}

function ttyRenderer(out: Out, createLogUpdate: typeof import('log-update').createLogUpdate): { sink: EventSink; close(): void } {
  // The live part: one line per running step with its elapsed time. Finished
  // steps and all output lines scroll above it, so nothing is lost.
  const running = new Map<string, { name: string; start: number; last: string }>();
  const live = createLogUpdate(out as NodeJS.WriteStream, { showCursor: true });
  const draw = (): void => {
    live(
      [...running.entries()]
        .map(([id, r]) => `=> ${id} ${r.name} ${seconds(Date.now() - r.start)}${r.last ? `  ${r.last}` : ''}`)
        .join('\n'),
    );
  };
  const clear = (): void => live.clear();
  const print = (s: string): void => {
    live.clear();
    out.write(s + '\n');
    draw();
  };
  const timer = setInterval(() => {
    if (running.size > 0) draw();
  }, 200);
  timer.unref();
  const sink: EventSink = (e) => {
    switch (e.type) {
      case 'step-start':
        running.set(e.id, { name: e.name, start: Date.now(), last: '' });
        draw();
        break;
      case 'step-log': {
        const r = running.get(e.id);
        if (r) r.last = e.line.slice(0, 60);
        print(`   ${e.id} ${e.line}`);
        break;
      }
      case 'step-done': {
        const r = running.get(e.id);
        running.delete(e.id);
        print(`=> ${e.id} ${r?.name ?? ''} ${e.cached ? 'CACHED' : seconds(e.durationMs)}`);
        break;
      }
      case 'step-error':
        running.delete(e.id);
        print(`=> ${e.id} ERROR: ${e.message}`);
        break;
      case 'warning':
        print(formatWarning(e));
        break;
      case 'resolve-done':
        print(`=> resolve ${e.ref} ${seconds(e.durationMs)}`);
        break;
      case 'image':
        print(`=> writing image ${e.configDigest}${e.ref ? ` naming to ${e.ref}` : ''}`);
        break;
      case 'summary':
        for (const l of e.lines) print(l);
        break;
      default:
        break;
    }
  };
  return {
    sink,
    close() {
      clearInterval(timer);
      clear();
    },
  };
}
