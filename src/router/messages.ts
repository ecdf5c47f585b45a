// Plain-text bodies for the responses the router makes itself. Each says what
// happened and what to do next.

export function unknownAppBody(host: string, app: string): string {
  return `No app named "${app}" is served at ${host}.\nCreate it with: summon apps:create ${app}\n`;
}

export function foreignHostBody(host: string, domains: readonly string[]): string {
  const served = domains.map((d) => `NAME.${d}`).join(', ');
  return `Host "${host}" is not served here. This router serves ${served}.\n`;
}

export const MISSING_HOST_BODY = 'The request has no Host header; send Host: NAME.localhost to reach app NAME.\n';

export function noReleaseBody(app: string): string {
  return `App "${app}" has no release yet. Deploy it with: git push (see \`summon apps:info ${app}\` for the remote).\n`;
}

export function holdFullBody(app: string, max: number): string {
  return `App "${app}" is starting and already has ${max} requests waiting for it. Retry shortly.\n`;
}

export function holdTimeoutBody(app: string, waitedMs: number): string {
  return `App "${app}" did not become ready within ${Math.round(waitedMs / 100) / 10}s. Retry shortly; \`summon ps -a ${app}\` shows its instances.\n`;
}

export function appGoneBody(app: string): string {
  return `App "${app}" was deleted while this request waited.\n`;
}

/** `why` says why the request was not retried (or how often it was). */
export function badGatewayBody(app: string, error: string, why: string): string {
  return `App "${app}" failed to answer this request (${error}). ${why} \`summon logs -a ${app}\` shows what the app printed.\n`;
}

export function gatewayTimeoutBody(app: string, ms: number): string {
  return `App "${app}" did not start its response within ${ms / 1000}s.\n`;
}

export const SHUTTING_DOWN_BODY = 'The router is shutting down. Retry shortly.\n';
