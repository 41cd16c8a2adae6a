// For tests that mount the origin's plugins on a bare fastify (page routes, stand-in WHEP or HLS
// routes): an AccessControl with the test signing key (helpers/auth.ts), in-process revocations
// and no audit file, and the origin's token routes (POST /api/tokens/refresh) that pages call.
import type { FastifyInstance } from 'fastify';
import { installErrorHandler } from '../../lib/http-errors.js';
import { AccessControl } from '../../lib/security/access.js';
import { LocalRevocations } from '../../lib/security/revocations.js';
import { authPlugin } from '../../origin/auth-plugin.js';
import { testAuthConfig } from './auth.js';

export function testAccessControl(options: { tokenTtlSeconds?: number } = {}): AccessControl {
  const auth = testAuthConfig();
  return new AccessControl({
    keys: auth.keys,
    scrapeTokens: auth.scrapeTokens,
    revocations: new LocalRevocations(),
    audit: null,
    tokenTtlSeconds: options.tokenTtlSeconds ?? 900,
    maxTokenTtlSeconds: 43_200,
  });
}

/** The origin's error format ({type:'error', code, message}, 401/403) and token routes on a test app. */
export async function withAccessRoutes(app: FastifyInstance, access: AccessControl): Promise<void> {
  installErrorHandler(app);
  await app.register(authPlugin, { access });
}
