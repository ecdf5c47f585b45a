import { randomBytes } from 'node:crypto';

/** Short random ids for instances, webhooks and deliveries: prefix + 10 hex chars. */
export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
