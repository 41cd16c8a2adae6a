// nginx + the Debian RTMP module for the nginx-rtmp anchor. Installed with apt-get only when
// missing (the bench runs as root on Debian). We use the binary and the module only: never the
// system config or service (Debian's policy-rc.d in containers keeps apt from starting it;
// elsewhere the package may start a system nginx on :80, which we leave alone).
import { accessSync, constants } from 'node:fs';
import { runVisible } from './child.js';

export const NGINX_BINARY = '/usr/sbin/nginx';
export const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

const PACKAGES = ['nginx', 'libnginx-mod-rtmp'] as const;

function present(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/** Installs nginx + libnginx-mod-rtmp if either is missing; throws with the reason if it cannot. */
export async function ensureNginxRtmp(signal?: AbortSignal): Promise<{ binary: string; module: string }> {
  const ready = (): boolean => present(NGINX_BINARY, constants.X_OK) && present(RTMP_MODULE, constants.R_OK);
  if (ready()) return { binary: NGINX_BINARY, module: RTMP_MODULE };
  if (process.getuid?.() !== 0) {
    throw new Error(`nginx anchor: ${NGINX_BINARY} or ${RTMP_MODULE} missing and not root: run apt-get install -y ${PACKAGES.join(' ')}`);
  }
  console.error(`nginx anchor: ${NGINX_BINARY} or ${RTMP_MODULE} missing; installing ${PACKAGES.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let code = await runVisible('apt-get', ['install', '-y', ...PACKAGES], { env, signal });
  if (code !== 0 && !signal?.aborted) {
    // Stale or absent package lists are the usual reason: refresh once and retry.
    await runVisible('apt-get', ['update'], { env, signal });
    code = await runVisible('apt-get', ['install', '-y', ...PACKAGES], { env, signal });
  }
  if (code !== 0 || !ready()) throw new Error(`nginx anchor: apt-get install -y ${PACKAGES.join(' ')} failed (exit ${code})`);
  return { binary: NGINX_BINARY, module: RTMP_MODULE };
}
