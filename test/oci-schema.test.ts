import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { corpusMissing } from './support/conformance.js';
import { loadTestVectors, OciSchemaValidator } from './support/oci-schema.js';

const skip = corpusMissing('oci-image-spec', 'test-vectors.json');

describe('OCI JSON schemas (image-spec test vectors)', { skip }, () => {
  const vectors = skip ? undefined : loadTestVectors();
  const validator = skip ? undefined : new OciSchemaValidator(vectors);

  it('every table case matches its expectation', () => {
    let passed = 0;
    let total = 0;
    const failures: string[] = [];
    for (const [name, table] of Object.entries(vectors!.tables)) {
      table.cases.forEach((c, i) => {
        total++;
        let doc = c.document;
        if (c.sha256OfDocument) {
          const got = `sha256:${createHash('sha256').update(doc).digest('hex')}`;
          if ((got === c.sha256OfDocument) !== (c.digestMatches ?? true)) {
            failures.push(`${name}[${i}]: sha256 of document ${got} vs ${c.sha256OfDocument}`);
            return;
          }
        }
        if (table.convertDockerMediaTypes) {
          for (const [from, to] of Object.entries(vectors!.compatMap)) doc = doc.split(from).join(to);
        }
        const r = validator!.validateWith(doc, table.validator);
        if (r.ok === !c.fail) passed++;
        else failures.push(`${name}[${i}] expected ${c.fail ? 'failure' : 'success'}, got ${r.ok ? 'success' : `failure: ${r.error}`}`);
      });
    }
    console.log(`oci schema tables: ${passed}/${total} passed`);
    assert.deepEqual(failures, []);
    assert.ok(total >= 70, `expected the full table set, saw ${total}`);
  });

  it('every markdown example in the spec validates', () => {
    let passed = 0;
    const failures: string[] = [];
    for (const ex of vectors!.markdownExamples) {
      const r = validator!.validate(ex.document, ex.mediatype);
      if (r.ok === (ex.expect === 'valid')) passed++;
      else failures.push(`${ex.file} "${ex.title}": ${r.ok ? 'valid' : r.error}`);
    }
    console.log(`oci schema markdown examples: ${passed}/${vectors!.markdownExamples.length} passed`);
    assert.deepEqual(failures, []);
  });

  it('rejects a manifest with a malformed layer digest', () => {
    const doc = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: 2, digest: 'sha256:nothex' }, layers: [] });
    assert.equal(validator!.validate(doc, 'application/vnd.oci.image.manifest.v1+json').ok, false);
  });
});
