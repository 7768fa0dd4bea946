import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../server/context.ts';
import { deleteBudget } from './budget.ts';
import { deleteCredentials, listCredentials, putCredentials } from './credentials.ts';
import { getSpend } from './spend.ts';
import { createToken, listTokens, revokeToken } from './tokens.ts';
import { createUser, deleteUser, getUser, listUsers, patchUser } from './users.ts';

export { parseExpiry, presentToken, presentUser } from './shared.ts';

/**
 * Users, tokens and MCP credentials over HTTP (README "Over HTTP"): owners manage everyone;
 * every user manages their own tokens and MCP credentials. Changes to who may use a token are
 * felt at once on this replica and within 5 s on the others (the authenticators' re-check
 * interval). One handler per route, registered in the order the OpenAPI document lists them.
 */
export function userRoutes(app: FastifyInstance, ctx: AppContext): void {
  for (const route of [
    listUsers,
    createUser,
    getUser,
    patchUser,
    deleteBudget,
    deleteUser,
    listTokens,
    createToken,
    revokeToken,
    listCredentials,
    putCredentials,
    deleteCredentials,
    getSpend,
  ])
    route(app, ctx);
}
