/**
 * `RUN --device=...` values (CDI device requests): a device name, optionally
 * `name=` spelled out, and `required`/`required=<bool>`.
 */
import { parseGoBool, splitCsvRecord } from './go-values.js';
import { problem } from './problem.js';
import { withSuggestion } from './suggest.js';

export interface Device {
  name: string;
  required: boolean;
}

export function parseDevice(raw: string): Device {
  let fields: string[];
  try {
    fields = splitCsvRecord(raw);
  } catch (e) {
    throw problem(`failed to parse csv devices: ${(e as Error).message}`);
  }
  const d: Device = { name: '', required: false };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase();
    const value = eq >= 0 ? field.slice(eq + 1) : '';
    if (eq < 0) {
      if (key === 'required') {
        d.required = true;
        continue;
      }
      if (d.name === '') {
        d.name = field;
        continue;
      }
      throw problem(`invalid field '${field}' must be a key=value pair`);
    }
    switch (key) {
      case 'name':
        if (d.name !== '') throw problem(`device name already set to ${d.name}`);
        d.name = value;
        break;
      case 'required': {
        const b = parseGoBool(value);
        if (b === undefined) throw problem(`invalid value for ${key}: ${value}`);
        d.required = b;
        break;
      }
      default:
        if (d.name === '') {
          d.name = field;
          continue;
        }
        throw problem(withSuggestion(`unexpected key '${key}' in '${field}'`, key, ['name', 'required'], true));
    }
  }
  return d;
}
