import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../limits/json-scan.ts';
import { packageVersion } from '../../paths.ts';
import type { AppContext } from '../context.ts';
import { annotationRoutes } from './annotations.ts';
import { auditRoutes } from './audit.ts';
import { verifyRoutes } from './audit-verify.ts';
import { authenticateFirst } from './auth.ts';
import { API_BODY_BYTES, guard, sendApiError } from './errors.ts';
import { loginRoutes } from './login.ts';
import { API_PREFIXES } from './prefix.ts';
import { SCHEMAS } from './schemas.ts';
import { sessionRoutes } from './session.ts';
import { ssoRoutes } from './sso.ts';
import { teamRoutes } from './teams.ts';
import { userRoutes } from './users/index.ts';

export { API_PREFIXES };

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Bodies are validated against the route schemas; query strings are read by the handlers
 * themselves, so their problems come back as `validations` naming each parameter. A request
 * without a body is checked as `{}`: a POST whose fields are all optional needs none.
 */
function bodyValidator() {
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  for (const [name, schema] of Object.entries(SCHEMAS)) ajv.addSchema({ ...schema, $id: name });
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) => {
    if (httpPart !== 'body') return () => true;
    const validate = ajv.compile(schema);
    const check = (data: unknown) => {
      const body = data ?? {};
      const ok = validate(body);
      check.errors = validate.errors;
      return ok ? { value: body } : false;
    };
    check.errors = validate.errors;
    return check;
  };
}

/**
 * The non-provider API: audit, usage, users and tokens, console sessions, and the OpenAPI
 * 3.1 document describing them, under both prefixes (documented once).
 */
export async function registerApi(app: FastifyInstance, ctx: AppContext): Promise<void> {
  for (const [name, schema] of Object.entries(SCHEMAS)) app.addSchema({ ...schema, $id: name });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'AI Bridge API',
        version: packageVersion(),
        description: 'Audit, usage, users and tokens. Authenticate with a bridge token as `Authorization: Bearer`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    // Only the API is described: provider, console and operations routes carry no tags.
    hideUntagged: true,
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (json.$id as string) || `def-${i}` },
  });
  const validator = bodyValidator();
  for (const prefix of API_PREFIXES) {
    await app.register(
      async (api) => {
        api.setValidatorCompiler(validator);
        // The root keeps bodies raw for the provider routes; the API reads JSON.
        api.removeAllContentTypeParsers();
        api.addContentTypeParser(
          'application/json',
          { parseAs: 'buffer', bodyLimit: API_BODY_BYTES },
          (_r, body, done) => {
            const bytes = body as Buffer;
            if (nestsDeeperThan(bytes, MAX_JSON_DEPTH)) {
              done(
                Object.assign(new Error(`the body nests deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400 }),
              );
              return;
            }
            try {
              done(null, bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined);
            } catch {
              done(Object.assign(new Error('the body is not valid JSON'), { statusCode: 400 }), undefined);
            }
          },
        );
        api.setErrorHandler((err, request, reply) => sendApiError(err, request, reply));
        // Tokens, sessions and audit records: no browser or proxy cache may keep an answer.
        api.addHook('onRequest', async (_request, reply) => {
          reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
        });
        api.addHook('onRequest', authenticateFirst(ctx));
        if (prefix !== API_PREFIXES[0]) {
          api.addHook('onRoute', (route) => {
            route.schema = { ...route.schema, hide: true };
          });
        }
        auditRoutes(api, ctx);
        annotationRoutes(api, ctx);
        verifyRoutes(api, ctx);
        userRoutes(api, ctx);
        teamRoutes(api, ctx);
        sessionRoutes(api, ctx);
        ssoRoutes(api, ctx);
        loginRoutes(api, {
          oidc: () => ctx.oidc,
          directory: ctx.directory,
          // A store outage answers 503 (the CLI waits and asks again), as POST /session does.
          issueToken: (userId, options) => guard(ctx, () => ctx.users.createToken(userId, options)),
          log: ctx.logger.child({ component: 'sso' }),
        });
        api.get('/openapi.json', { schema: { hide: true }, config: { anonymous: true } }, async () => app.swagger());
      },
      { prefix },
    );
  }
}
