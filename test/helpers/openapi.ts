import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Validates bodies against the bridge's own OpenAPI document: each component schema
 * (`Interception`, `Error`, …) as served at /api/v2/aibridge/openapi.json.
 */
export async function openApiValidator(baseUrl: string): Promise<(name: string, body: unknown) => void> {
  const response = await fetch(`${baseUrl}/api/v2/aibridge/openapi.json`);
  if (response.status !== 200) throw new Error(`openapi.json answered ${response.status}`);
  const document = (await response.json()) as { components: { schemas: Record<string, object> } };
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }));
  ajv.addSchema({ ...document, $id: 'openapi' });
  const compiled = new Map<string, ValidateFunction>();
  return (name, body) => {
    if (!document.components.schemas[name]) throw new Error(`no component schema ${name}`);
    let validate = compiled.get(name);
    if (!validate) {
      validate = ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
      compiled.set(name, validate);
    }
    if (!validate(body))
      throw new Error(`${name}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
  };
}
