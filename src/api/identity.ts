/**
 * Users and tokens over GraphQL (contract §5): `me`, `users`, `tokens` and the mutations. A
 * READER sees and manages only their own tokens; another user's token is NOT_FOUND to them, as
 * if it did not exist. Everything else here is for ADMINs (FORBIDDEN otherwise).
 */
import type { Principal } from '../auth/authenticator.js';
import type { DrizzleDb } from '../db/client.js';
import {
  createUser,
  deleteUser,
  findToken,
  findUserById,
  insertToken,
  listTokens,
  listUsers,
  revokeToken,
  setUserRole,
  type TokenWithUser,
  type UserRow,
} from '../db/identity.js';
import { generateToken, USER_NAME, USER_NAME_RULE } from '../domain/credentials.js';
import type { Role } from '../schema/db.js';
import { badUserInput, forbidden, notFound } from './errors.js';

export interface IdentityContext {
  db: DrizzleDb;
  principal: Principal;
}

const MAX_TOKEN_NAME = 100;
const MIN_EXPIRY_SECONDS = 60;
const MAX_EXPIRY_SECONDS = 10 * 365 * 86_400;

export function requireAdmin(ctx: { principal: Principal }, what: string): void {
  if (ctx.principal.role !== 'ADMIN') throw forbidden(`${what} is for ADMINs; you are a ${ctx.principal.role}`);
}

function idArg(value: unknown, argument: string): number {
  const s = String(value);
  if (!/^\d{1,15}$/.test(s)) throw badUserInput(`${argument} must be an id (digits), got "${s.slice(0, 40)}"`, { argument });
  return Number(s);
}

/** A token the asker may see: their own, or any for an ADMIN; otherwise as if there were none. */
async function visibleToken(ctx: IdentityContext, id: number): Promise<TokenWithUser> {
  const token = await findToken(ctx.db, id);
  if (!token || (token.userId !== ctx.principal.userId && ctx.principal.role !== 'ADMIN')) throw notFound(`no token ${id}`);
  return token;
}

async function existingUser(ctx: IdentityContext, id: number): Promise<UserRow> {
  const user = await findUserById(ctx.db, id);
  if (!user) throw notFound(`no user ${id}`);
  return user;
}

export const identityResolvers = {
  User: {
    id: (u: UserRow) => String(u.id),
  },
  ApiToken: {
    id: (t: TokenWithUser) => String(t.id),
  },
  Query: {
    me: async (_: unknown, __: unknown, ctx: IdentityContext) => existingUser(ctx, ctx.principal.userId),
    users: (_: unknown, __: unknown, ctx: IdentityContext) => {
      requireAdmin(ctx, 'users');
      return listUsers(ctx.db);
    },
    tokens: async (_: unknown, args: { userId?: string | null }, ctx: IdentityContext) => {
      const userId = args.userId == null ? null : idArg(args.userId, 'userId');
      if (ctx.principal.role === 'ADMIN') return listTokens(ctx.db, userId);
      // A READER asking for someone else's tokens learns nothing about that user.
      if (userId !== null && userId !== ctx.principal.userId) throw notFound(`no user ${userId}`);
      return listTokens(ctx.db, ctx.principal.userId);
    },
  },
  Mutation: {
    createUser: async (_: unknown, args: { name: string; role: Role }, ctx: IdentityContext) => {
      requireAdmin(ctx, 'createUser');
      if (!USER_NAME.test(args.name))
        throw badUserInput(`name must be ${USER_NAME_RULE}, got "${args.name.slice(0, 80)}"`, { argument: 'name' });
      const user = await createUser(ctx.db, args.name, args.role);
      if (!user) throw badUserInput(`a user named "${args.name}" already exists`, { argument: 'name' });
      return user;
    },
    setUserRole: async (_: unknown, args: { userId: string; role: Role }, ctx: IdentityContext) => {
      requireAdmin(ctx, 'setUserRole');
      const user = await setUserRole(ctx.db, idArg(args.userId, 'userId'), args.role);
      if (!user) throw notFound(`no user ${args.userId}`);
      return user;
    },
    deleteUser: async (_: unknown, args: { userId: string }, ctx: IdentityContext) => {
      requireAdmin(ctx, 'deleteUser');
      if (!(await deleteUser(ctx.db, idArg(args.userId, 'userId')))) throw notFound(`no user ${args.userId}`);
      return true;
    },
    createToken: async (
      _: unknown,
      args: { name: string; userId?: string | null; expiresInSeconds?: number | null },
      ctx: IdentityContext,
    ) => {
      const name = args.name.trim();
      if (name.length === 0 || name.length > MAX_TOKEN_NAME || /\p{Cc}|\p{Cs}/u.test(name)) {
        throw badUserInput(`name must be 1 to ${MAX_TOKEN_NAME} printable characters`, { argument: 'name' });
      }
      const e = args.expiresInSeconds;
      if (e != null && (e < MIN_EXPIRY_SECONDS || e > MAX_EXPIRY_SECONDS)) {
        throw badUserInput(`expiresInSeconds must be from ${MIN_EXPIRY_SECONDS} to ${MAX_EXPIRY_SECONDS} (10 years), got ${e}`, {
          argument: 'expiresInSeconds',
        });
      }
      let userId = ctx.principal.userId;
      if (args.userId != null) {
        const wanted = idArg(args.userId, 'userId');
        if (wanted !== userId) {
          requireAdmin(ctx, 'createToken for another user');
          userId = (await existingUser(ctx, wanted)).id;
        }
      }
      const { token, hash } = generateToken();
      const row = await insertToken(ctx.db, {
        userId,
        name,
        hash,
        expiresAt: e == null ? null : new Date(Date.now() + e * 1000),
      });
      return { token, apiToken: await visibleToken(ctx, row.id) };
    },
    revokeToken: async (_: unknown, args: { tokenId: string }, ctx: IdentityContext) => {
      const token = await visibleToken(ctx, idArg(args.tokenId, 'tokenId'));
      return (await revokeToken(ctx.db, token.id))!;
    },
  },
};
