import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/** OpenAPI's format names for numbers, and ours, which are descriptive: every value passes them. */
const DESCRIPTIVE_FORMATS = [
  'decimal',
  'float',
  'double',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
];

/** A JSON Schema 2020-12 validator (the dialect of OpenAPI 3.1) for the schemas in our document. */
export function schemaValidator(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  for (const f of DESCRIPTIVE_FORMATS) ajv.addFormat(f, true);
  return ajv;
}
