import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

type Operation = { responses: Record<string, { content?: { 'application/json'?: { schema: object } } }> };

export interface OpenApi {
  document: { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, object> } };
  /** Validates a body against a component schema (`Interception`, `Error`, …); throws with the errors. */
  validate(name: string, body: unknown): void;
  /**
   * The JSON schema the document declares for a response of `method path` (the path under
   * /api/v2/aibridge, after the prefix) with `status`: an object, null when it declares no
   * body, undefined when it does not declare that response at all.
   */
  responseSchema(method: string, path: string, status: number): object | null | undefined;
  /** Validates a body against a schema of the document (a `$ref` into it, or inline). */
  validateAgainst(schema: object, body: unknown, what: string): void;
}

/** The bridge's own OpenAPI document, as served at /api/v2/aibridge/openapi.json, ready to validate with. */
export async function loadOpenApi(baseUrl: string): Promise<OpenApi> {
  const response = await fetch(`${baseUrl}/api/v2/aibridge/openapi.json`);
  if (response.status !== 200) throw new Error(`openapi.json answered ${response.status}`);
  const document = (await response.json()) as OpenApi['document'];
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }));
  ajv.addSchema({ ...document, $id: 'openapi' });
  const compiled = new Map<string, ValidateFunction>();
  const check = (key: string, schema: object, body: unknown, what: string) => {
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile(schema);
      compiled.set(key, validate);
    }
    if (!validate(body))
      throw new Error(`${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
  };
  const templates = Object.keys(document.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  return {
    document,
    validate(name, body) {
      if (!document.components.schemas[name]) throw new Error(`no component schema ${name}`);
      check(name, { $ref: `openapi#/components/schemas/${name}` }, body, name);
    },
    responseSchema(method, path, status) {
      const full = `/api/v2/aibridge${path.split('?')[0]}`;
      const found = templates.find((t) => t.pattern.test(full));
      const response = found && document.paths[found.template]?.[method.toLowerCase()]?.responses[String(status)];
      if (!response) return undefined;
      return response.content?.['application/json']?.schema ?? null;
    },
    validateAgainst(schema, body, what) {
      // Its $refs point into the document: resolve them against the copy added above.
      const text = JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/');
      check(text, JSON.parse(text), body, what);
    },
  };
}

/**
 * Validates bodies against the bridge's own OpenAPI document: each component schema
 * (`Interception`, `Error`, …) as served at /api/v2/aibridge/openapi.json.
 */
export async function openApiValidator(baseUrl: string): Promise<(name: string, body: unknown) => void> {
  return (await loadOpenApi(baseUrl)).validate;
}
