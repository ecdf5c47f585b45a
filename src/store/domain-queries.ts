// The store's queries for custom domains and certificates, shared by both dialects
// (KyselyStore delegates here). One statement each.
import type { Kysely } from 'kysely';
import { ConflictError } from '../core/errors.js';
import type { Domain, StoredCert } from './domain-types.js';
import { num } from './rows.js';
import type { CertificatesTable, Database, DomainsTable } from './schema.js';

type Db = Kysely<Database>;

const domainFromRow = (r: DomainsTable): Domain => ({ host: r.host, app: r.app, createdAt: num(r.created_at) });

function certFromRow(r: CertificatesTable): StoredCert {
  return {
    app: r.app, id: r.id, hosts: JSON.parse(r.hosts) as string[], certPem: r.cert_pem, keyCipher: r.key_cipher,
    issuer: r.issuer, subject: r.subject, notBefore: num(r.not_before), notAfter: num(r.not_after),
    source: r.source as StoredCert['source'], createdAt: num(r.created_at),
  };
}

/** Throws ConflictError (details.owner) if any app owns the host; a missing app is the caller's to find (FK). */
export async function addDomain(db: Db, d: Domain): Promise<void> {
  // ON CONFLICT DO NOTHING, as in createApp: no dialect-specific unique-violation codes.
  const added = await db.insertInto('domains').values({ host: d.host, app: d.app, created_at: d.createdAt })
    .onConflict((oc) => oc.column('host').doNothing()).returning('host').executeTakeFirst();
  if (!added) {
    const owner = await getDomain(db, d.host);
    throw new ConflictError(`${d.host} is already a domain of ${owner?.app === d.app ? d.app : 'another app'}`, { host: d.host, owner: owner?.app ?? null });
  }
}

export async function getDomain(db: Db, host: string): Promise<Domain | undefined> {
  const r = await db.selectFrom('domains').selectAll().where('host', '=', host).executeTakeFirst();
  return r ? domainFromRow(r) : undefined;
}

export async function listDomains(db: Db, app?: string): Promise<Domain[]> {
  let q = db.selectFrom('domains').selectAll();
  if (app !== undefined) q = q.where('app', '=', app);
  return (await q.orderBy('app').orderBy('host').execute()).map(domainFromRow);
}

export async function deleteDomain(db: Db, app: string, host: string): Promise<boolean> {
  const r = await db.deleteFrom('domains').where('app', '=', app).where('host', '=', host).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Inserts, or replaces the app's certificate with this id (the same leaf added again). */
export async function putCert(db: Db, c: StoredCert): Promise<void> {
  const row = {
    app: c.app, id: c.id, hosts: JSON.stringify(c.hosts), cert_pem: c.certPem, key_cipher: c.keyCipher, issuer: c.issuer,
    subject: c.subject, not_before: c.notBefore, not_after: c.notAfter, source: c.source, created_at: c.createdAt,
  };
  const { app: _a, id: _i, ...update } = row;
  await db.insertInto('certificates').values(row).onConflict((oc) => oc.columns(['app', 'id']).doUpdateSet(update)).execute();
}

export async function listCerts(db: Db, app?: string): Promise<StoredCert[]> {
  let q = db.selectFrom('certificates').selectAll();
  if (app !== undefined) q = q.where('app', '=', app);
  return (await q.orderBy('app').orderBy('created_at').orderBy('id').execute()).map(certFromRow);
}

export async function deleteCert(db: Db, app: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('certificates').where('app', '=', app).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
