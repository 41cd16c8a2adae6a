// Tokens over HTTP:
//   POST /api/tokens          admin: issue {sub, role, stream, ttlSeconds?} -> {token, exp, jti}
//   POST /api/tokens/refresh  any valid token: the same grant, a fresh expiry, the same jti (so
//                             one revocation ends the whole chain of refreshes)
//   POST /api/tokens/revoke   admin: {jti, exp?} -> every node refuses it within seconds
//   GET  /api/tokens/self     any valid token: who the server thinks you are (no token echoed)
// Issuing and refreshing are the "login" of the audit trail: the hospital's portal (or IT with
// bin/token.ts) hands a person a link with a token; that is their session.
import type { FastifyPluginAsync } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { ADMIN_ONLY, EVERY_STREAM, type AccessControl } from '../lib/security/access.js';
import { TOKEN_ROLES, type TokenRole } from '../lib/security/tokens.js';
import { isStreamName } from '../lib/stream-name.js';

export interface AuthPluginOptions {
  access: AccessControl;
}

const SUBJECT = /^[A-Za-z0-9_.@-]{1,64}$/;
const JTI = /^[A-Za-z0-9_.:-]{1,128}$/;
const ANY_ROLE = TOKEN_ROLES;

function parseGrant(body: unknown): { sub: string; role: TokenRole; stream: string; ttlSeconds?: number } {
  const b = (body ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  const unknown = Object.keys(b).filter((k) => !['sub', 'role', 'stream', 'ttlSeconds'].includes(k));
  if (unknown.length) problems.push(`unknown field(s) ${unknown.slice(0, 4).join(', ')}`);
  if (typeof b.sub !== 'string' || !SUBJECT.test(b.sub)) problems.push('sub: a user or device id, 1-64 of A-Z a-z 0-9 _ . @ - (never a patient identifier)');
  if (typeof b.role !== 'string' || !TOKEN_ROLES.includes(b.role as TokenRole)) problems.push(`role: one of ${TOKEN_ROLES.join(', ')}`);
  if (b.stream !== '*' && !isStreamName(b.stream)) problems.push("stream: a stream name, or '*' for all");
  if (b.ttlSeconds !== undefined && (typeof b.ttlSeconds !== 'number' || !Number.isInteger(b.ttlSeconds) || b.ttlSeconds < 60)) problems.push('ttlSeconds: an integer >= 60');
  if (problems.length) throw new ScopecastError('SC_ERR_BAD_REQUEST', problems.join('; '));
  return { sub: b.sub as string, role: b.role as TokenRole, stream: b.stream as string, ...(b.ttlSeconds !== undefined ? { ttlSeconds: b.ttlSeconds as number } : {}) };
}

export const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (app, { access }) => {
  const small = { bodyLimit: 4096 };

  app.post('/api/tokens', { ...small, preHandler: access.guard(ADMIN_ONLY, EVERY_STREAM) }, async (request, reply) => {
    const grant = parseGrant(request.body);
    const admin = request.principal!;
    const issued = access.issue(grant);
    access.audit({ user: grant.sub, role: grant.role, ip: request.ip, action: 'login', object: `token/${issued.jti}/${grant.stream}`, outcome: 'ok', detail: `issued by ${admin.sub}` });
    return reply.code(201).header('cache-control', 'no-store').send({ ...issued, sub: grant.sub, role: grant.role, stream: grant.stream });
  });

  // The surgeon's monitor page is served by the edge and refreshes here: cross-origin. Safe with
  // '*': the credential is a bearer header, never a cookie.
  app.options('/api/tokens/refresh', async (_request, reply) =>
    reply
      .header('access-control-allow-origin', '*')
      .header('access-control-allow-methods', 'POST, OPTIONS')
      .header('access-control-allow-headers', 'authorization')
      .header('access-control-max-age', '600')
      .code(204)
      .send(),
  );

  app.post('/api/tokens/refresh', {
    preHandler: access.guard(ANY_ROLE),
    onSend: async (_request, reply, payload) => {
      reply.header('access-control-allow-origin', '*');
      return payload;
    },
  }, async (request, reply) => {
    const who = request.principal!;
    const issued = access.issue({ sub: who.sub, role: who.role, stream: who.stream, jti: who.jti });
    access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'login', object: `token/${who.jti}/${who.stream}`, outcome: 'ok', detail: 'refreshed' });
    return reply.header('cache-control', 'no-store').send(issued);
  });

  app.post('/api/tokens/revoke', { ...small, preHandler: access.guard(ADMIN_ONLY, EVERY_STREAM) }, async (request) => {
    const b = (request.body ?? {}) as Record<string, unknown>;
    if (typeof b.jti !== 'string' || !JTI.test(b.jti)) throw new ScopecastError('SC_ERR_BAD_REQUEST', 'jti: the token id to revoke');
    if (b.exp !== undefined && (typeof b.exp !== 'number' || !Number.isFinite(b.exp))) throw new ScopecastError('SC_ERR_BAD_REQUEST', 'exp: unix seconds');
    // Without its expiry the revocation is kept for the longest lifetime a token can have.
    const exp = typeof b.exp === 'number' ? b.exp : Math.floor(Date.now() / 1000) + 7 * 86_400;
    const admin = request.principal!;
    await access.revoke(b.jti, exp);
    access.audit({ user: admin.sub, role: admin.role, ip: request.ip, action: 'revoke', object: `token/${b.jti}`, outcome: 'ok' });
    request.log.warn({ jti: b.jti, by: admin.sub }, 'token revoked');
    return { revoked: b.jti };
  });

  app.get('/api/tokens/self', { preHandler: access.guard(ANY_ROLE) }, async (request, reply) => {
    const { sub, role, stream, exp, jti } = request.principal!;
    return reply.header('cache-control', 'no-store').send({ sub, role, stream, exp, jti });
  });
};
