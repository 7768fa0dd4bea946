import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { deleteBudget } from './budget.ts';
import { deleteCredentials, listCredentials, putCredentials } from './credentials.ts';
import { deleteProviderKey, listProviderKeys, putProviderKey } from './provider-keys.ts';
import { getSpend } from './spend.ts';
import { createToken, listTokens, revokeToken } from './tokens.ts';
import { createUser, deleteUser, getUser, listUsers, patchUser } from './users.ts';

export { parseExpiry, presentToken, presentUser, type TeamNames, teamNames } from './shared.ts';

/**
 * Users, tokens, MCP credentials and own provider keys over HTTP (README "Over HTTP"): owners
 * manage everyone; every user manages their own tokens, MCP credentials and provider keys.
 * Changes to who may use a token are felt at once on this replica and within 5 s on the others
 * (the authenticators' re-check interval). One handler per route, registered in the order the OpenAPI document lists them.
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
    listProviderKeys,
    putProviderKey,
    deleteProviderKey,
    getSpend,
  ])
    route(app, ctx);
}
