/**
 * Holds responses to the OpenAPI document: the operation must exist, the status must be one it
 * documents, and a JSON body must validate against the documented schema (Ajv, JSON Schema
 * 2020-12, as OpenAPI 3.1 uses). Records which (operation, status) pairs were seen.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { AdminOpenApiDocument } from '../src/openapi.js';

type Operation = { responses: Record<string, { content?: Record<string, { schema: unknown }> }> };

export interface Checked {
  readonly operation: string;
  readonly status: number;
}

export function openApiChecker(doc: AdminOpenApiDocument) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat(
    'date-time',
    (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)),
  );
  ajv.addFormat('uri', (s: string) => {
    try {
      new URL(s);
      return true;
    } catch {
      return false;
    }
  });
  ajv.addSchema(doc as unknown as object, 'admin-openapi');
  const seen: Checked[] = [];

  const templates = Object.keys(doc.paths).map((t) => ({
    t,
    re: new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));

  /** Finds the operation of `method path` (path relative to the base path, no query). */
  function operation(method: string, path: string): { template: string; op: Operation } {
    const found = templates.find(({ re }) => re.test(path));
    if (!found) throw new Error(`no documented path matches ${path}`);
    const op = (doc.paths[found.t] as Record<string, unknown>)[method.toLowerCase()] as Operation | undefined;
    if (!op) throw new Error(`${method} ${found.t} is not documented`);
    return { template: found.t, op };
  }

  /** Throws unless the response is one the document describes. */
  function check(method: string, path: string, status: number, contentType: string | null, body: string): void {
    const found = templates.find(({ re }) => re.test(path));
    const item = found && (doc.paths[found.t] as Record<string, unknown>);
    if (status === 405 && found && item && !item[method.toLowerCase()]) {
      // A method the path does not have: the answer is still a documented error.
      const validate = ajv.getSchema('admin-openapi#/components/schemas/Error')!;
      if (!validate(JSON.parse(body))) throw new Error(`405 ${found.t} does not match Error: ${ajv.errorsText(validate.errors)}`);
      seen.push({ operation: `${method.toUpperCase()} ${found.t}`, status });
      return;
    }
    const { template, op } = operation(method, path);
    const documented = op.responses[String(status)];
    if (!documented) throw new Error(`${method} ${template} answered ${status}, which is not documented`);
    const media = documented.content?.['application/json'];
    if (!media) {
      if (body !== '') throw new Error(`${method} ${template} ${status} should have no body`);
    } else {
      if (!contentType?.startsWith('application/json')) throw new Error(`${method} ${template} ${status}: content type ${contentType}`);
      const ptr = `admin-openapi#/paths/${template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`;
      const validate = ajv.getSchema(ptr);
      if (!validate) throw new Error(`cannot compile ${ptr}`);
      if (!validate(JSON.parse(body))) {
        throw new Error(`${method} ${template} ${status} does not match the schema: ${ajv.errorsText(validate.errors)}\n${body}`);
      }
    }
    seen.push({ operation: `${method.toUpperCase()} ${template}`, status });
  }

  /** Every documented operation (`METHOD /template`). */
  function operations(): string[] {
    return Object.entries(doc.paths).flatMap(([t, item]) =>
      Object.keys(item)
        .filter((k) => ['get', 'put', 'post', 'delete', 'patch'].includes(k))
        .map((k) => `${k.toUpperCase()} ${t}`),
    );
  }

  return { check, seen, operations };
}
