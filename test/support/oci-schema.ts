/**
 * Validates OCI documents against the image-spec JSON Schemas (draft-04) from
 * the shared conformance corpus, plus the checks image-spec does in Go on top
 * of the schemas (digest encoding per algorithm, config Env syntax).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { conformancePath } from './conformance.js';

const require = createRequire(import.meta.url);
// ajv-draft-04 is CommonJS; load it the CommonJS way so its default export is the class.
const AjvDraft04 = require('ajv-draft-04') as new (opts: Record<string, unknown>) => AjvLike;

interface AjvLike {
  addSchema(schema: object, key?: string): AjvLike;
  addFormat(name: string, f: RegExp | ((s: string) => boolean)): AjvLike;
  getSchema(key: string): ((data: unknown) => boolean) & { errors?: unknown[] | null } | undefined;
  errorsText(errors?: unknown[] | null): string;
}

export interface TestVectors {
  schemaAliases: Record<string, string[]>;
  validatorToSchema: Record<string, string>;
  mediatypeToValidator: Record<string, string>;
  compatMap: Record<string, string>;
  extraGoSideChecks: Record<string, string>;
  tables: Record<string, { file: string; validator: string; convertDockerMediaTypes: boolean; cases: Array<{ document: string; fail: boolean; sha256OfDocument?: string; digestMatches?: boolean }> }>;
  markdownExamples: Array<{ file: string; title: string; mediatype: string; document: string; expect: string }>;
}

export function loadTestVectors(): TestVectors {
  return JSON.parse(readFileSync(conformancePath('oci-image-spec', 'test-vectors.json'), 'utf8')) as TestVectors;
}

export type ValidationResult = { ok: true } | { ok: false; error: string };

export class OciSchemaValidator {
  readonly #ajv: AjvLike;
  readonly #vectors: TestVectors;

  constructor(vectors: TestVectors = loadTestVectors()) {
    this.#vectors = vectors;
    this.#ajv = new AjvDraft04({ allErrors: true, strict: false, validateFormats: true });
    // draft-04 "uri" format as image-spec's Go validator applies it: an absolute URI.
    this.#ajv.addFormat('uri', (s: string) => { try { new URL(s); return true; } catch { return false; } });
    // RFC 3339 date-time, as Go's time.Time unmarshals it.
    this.#ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/);
    const dir = conformancePath('oci-image-spec', 'schema');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const schema = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Record<string, unknown>;
      const top = typeof schema.id === 'string' ? schema.id : undefined;
      // Nested "id"s would re-register the same URL once per alias copy; drop
      // them so every relative $ref resolves against the copy's own id.
      const body = stripNestedIds(schema) as Record<string, unknown>;
      delete body.id;
      const ids = new Set<string>([...(top ? [top] : []), ...(vectors.schemaAliases[file] ?? [])]);
      let first = true;
      for (const id of ids) {
        this.#ajv.addSchema({ ...body, id }, first ? file : undefined);
        first = false;
      }
      if (first) this.#ajv.addSchema(body, file);
    }
  }

  /** Validates a document (text) as a media type from `mediatypeToValidator`. */
  validate(document: string, mediaType: string): ValidationResult {
    const validator = this.#vectors.mediatypeToValidator[mediaType];
    if (!validator) return { ok: false, error: `no validator for media type ${mediaType}` };
    return this.validateWith(document, validator);
  }

  validateWith(document: string, validator: string): ValidationResult {
    const schemaFile = this.#vectors.validatorToSchema[validator];
    if (!schemaFile) return { ok: false, error: `unknown validator ${validator}` };
    let value: unknown;
    try {
      value = JSON.parse(document);
    } catch (e) {
      return { ok: false, error: `not JSON: ${(e as Error).message}` };
    }
    const check = this.#ajv.getSchema(schemaFile);
    if (!check) return { ok: false, error: `schema ${schemaFile} not registered` };
    if (!check(value)) return { ok: false, error: this.#ajv.errorsText(check.errors) };
    return goSideChecks(value, validator);
  }
}

function stripNestedIds(v: unknown, depth = 0): unknown {
  if (Array.isArray(v)) return v.map((x) => stripNestedIds(x, depth + 1));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === 'id' && depth > 0 && typeof x === 'string') continue;
      out[k] = stripNestedIds(x, depth + 1);
    }
    return out;
  }
  return v;
}

const DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha512: 128 };

/** image-spec's extra checks done in Go after the schema passes. */
function goSideChecks(value: unknown, validator: string): ValidationResult {
  const v = value as Record<string, unknown>;
  if (validator === 'ValidatorMediaTypeDescriptor') {
    const d = String(v.digest);
    const i = d.indexOf(':');
    const alg = d.slice(0, i);
    const enc = d.slice(i + 1);
    const want = DIGEST_LENGTHS[alg];
    if (want !== undefined && !(enc.length === want && /^[a-f0-9]+$/.test(enc))) {
      return { ok: false, error: `digest ${d}: ${alg} needs ${want} lowercase hex characters` };
    }
  }
  // Go unmarshals `data` into []byte with standard, padded base64.
  const descriptors: unknown[] = validator === 'ValidatorMediaTypeDescriptor' ? [v]
    : [v.config, v.subject, ...(Array.isArray(v.layers) ? v.layers : []), ...(Array.isArray(v.manifests) ? v.manifests : [])];
  for (const d of descriptors) {
    const data = (d as Record<string, unknown> | undefined)?.data;
    if (typeof data === 'string' && !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(data)) {
      return { ok: false, error: `descriptor data is not padded standard base64` };
    }
  }
  if (validator === 'ValidatorMediaTypeImageConfig') {
    const env = (v.config as Record<string, unknown> | undefined)?.Env;
    if (Array.isArray(env)) {
      for (const e of env) if (typeof e !== 'string' || !/^[^=]+=.*$/.test(e)) return { ok: false, error: `config.Env entry ${JSON.stringify(e)} is not NAME=value` };
    }
  }
  return { ok: true };
}
