import type { FastifyInstance } from 'fastify';
import { CredentialsKeyError, McpCredentials, parseHeader } from '../../../mcp/credentials.ts';
import type { AppContext } from '../../context.ts';
import { ApiError, guard, invalid } from '../errors.ts';
import { ref } from '../schemas.ts';
import { caller, errors, type Params, target, userParams } from './shared.ts';

const credentials = (ctx: AppContext) => new McpCredentials(ctx.store.credentials);

/** GET /users/{user}/mcp-credentials: servers and header names, never values (themselves, owners). */
export function listCredentials(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: Params }>(
    '/users/:user/mcp-credentials',
    {
      schema: {
        tags: ['mcp'],
        summary: "A user's MCP credentials: servers and header names, never values",
        params: userParams,
        response: { 200: ref('CredentialList'), ...errors },
      },
    },
    async (request) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const list = await guard(ctx, () => credentials(ctx).list(user._id));
      return {
        count: list.length,
        results: list.map((c) => ({
          server: c.server,
          headers: c.header_names,
          created_at: c.created_at.toISOString(),
          updated_at: c.updated_at.toISOString(),
        })),
      };
    },
  );
}

/** PUT /users/{user}/mcp-credentials/{server}: the headers sent as them to a per-user server (themselves, owners). */
export function putCredentials(app: FastifyInstance, ctx: AppContext): void {
  app.put<{ Params: Params & { server: string }; Body: { headers: Record<string, string> } }>(
    '/users/:user/mcp-credentials/:server',
    {
      schema: {
        tags: ['mcp'],
        summary: 'Store (replace) the headers this user sends to a per-user MCP server',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['headers'],
          properties: {
            headers: {
              type: 'object',
              minProperties: 1,
              maxProperties: 20,
              additionalProperties: { type: 'string', maxLength: 8192 },
            },
          },
        },
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const server = ctx.config.mcp_servers.find((s) => s.name === request.params.server);
      if (!server) throw new ApiError(404, `no MCP server "${request.params.server}" is configured`);
      if (!server.per_user_credentials) {
        throw invalid(
          [{ field: 'server', detail: `"${server.name}" does not take per-user credentials` }],
          'invalid server',
        );
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.body.headers)) {
        try {
          const [n, v] = parseHeader(`${name}: ${value}`);
          headers[n] = v;
        } catch (err) {
          throw invalid([{ field: `headers.${name}`, detail: (err as Error).message }], 'invalid request body');
        }
      }
      await guard(ctx, async () => {
        try {
          await credentials(ctx).set(user._id, server.name, headers);
        } catch (err) {
          if (!(err instanceof CredentialsKeyError)) throw err;
          throw new ApiError(503, 'per-user MCP credentials are not enabled on this bridge', { detail: err.message });
        }
      });
      return reply.code(204).send();
    },
  );
}

/** DELETE /users/{user}/mcp-credentials/{server} (themselves, owners). */
export function deleteCredentials(app: FastifyInstance, ctx: AppContext): void {
  app.delete<{ Params: Params & { server: string } }>(
    '/users/:user/mcp-credentials/:server',
    {
      schema: {
        tags: ['mcp'],
        summary: "Remove a user's headers for a server",
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const deleted = await guard(ctx, () => credentials(ctx).delete(user._id, request.params.server));
      if (!deleted) throw new ApiError(404, `no credentials for "${request.params.server}"`);
      return reply.code(204).send();
    },
  );
}
