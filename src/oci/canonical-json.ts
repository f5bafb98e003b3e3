/**
 * Deterministic JSON: object keys sorted by UTF-16 code unit order (as
 * Array.prototype.sort does), no whitespace, `undefined` members dropped.
 * The same value always serialises to the same bytes, so digests of the
 * manifests and configs we write are stable.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : sortKeys(x)));
  if (v !== null && typeof v === 'object') {
    const src = v as Record<string, unknown>;
    // A null-prototype object, so a "__proto__" key is kept as data (JSON
    // can carry one) instead of replacing the prototype.
    const out: Record<string, unknown> = Object.create(null);
    for (const k of Object.keys(src).sort()) {
      const x = src[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`cannot serialise ${v} as JSON`);
  return v;
}
