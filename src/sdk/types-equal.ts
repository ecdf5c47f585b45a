// Compile-time proof that the wire shapes (sdk/types.ts) are the domain's own types: each line
// fails `tsc` when a field is added, removed or retyped on one side only. Nothing runs here.
import type * as Core from '../core/types.js';
import type { LogLine as StoreLogLine } from '../control/log-store.js';
import type { SeriesPoint as RecorderPoint } from '../api/series.js';
import type { DrainStatus as ManagerStatus } from '../drains/drain-manager.js';
import type { ApiToken, AuditEntry as StoreAuditEntry, BuildSummary as StoreBuildSummary, Verification as StoreVerification, Domain, Drain, StoredCert, User, Webhook as StoreWebhook, WebhookDelivery as StoreDelivery } from '../store/store.js';
import type * as Wire from './types.js';

type Flat<T> = { [K in keyof T]: T[K] };
type Equal<A, B> = (<X>() => X extends Flat<A> ? 1 : 2) extends (<X>() => X extends Flat<B> ? 1 : 2) ? true : false;
type Same<A, B> = Equal<A, B> extends true ? true : false;

export const checks: [
  Same<Wire.Instance, Core.Instance>,
  Same<Wire.SummonEvent, Core.SummonEvent>,
  Same<Wire.ScalePolicy, Core.ScalePolicy>,
  Same<import('zod').infer<typeof Wire.Manifest>, Core.Manifest>,
  Same<import('zod').infer<typeof Wire.BuildManifest>, Core.BuildManifest>,
  Same<Wire.ReleaseView, Omit<Core.Release, 'configCipher'> & { configKeys: string[]; verification: StoreVerification | null }>,
  Same<import('zod').infer<typeof Wire.RuntimeCapability>, Core.RuntimeCapability>,
  Same<Wire.LogLine, StoreLogLine>,
  Same<Wire.SeriesPoint, RecorderPoint>,
  Same<Wire.Webhook, StoreWebhook>,
  Same<Wire.WebhookView, Omit<StoreWebhook, 'secret'>>,
  Same<Wire.WebhookDelivery, StoreDelivery>,
  Same<Wire.DrainStatus, ManagerStatus>,
  Same<Wire.DrainView, Drain & { status: ManagerStatus | null }>,
  Same<Wire.UserView, User & { apps: string[] }>,
  Same<Omit<Wire.TokenView, 'user' | 'state'>, Omit<ApiToken, 'hash'>>,
  Same<Wire.AuditEntry, StoreAuditEntry>,
  Same<Wire.BuildSummary, StoreBuildSummary>,
  Same<Wire.DomainView, Domain & { certificate: string | null }>,
  Same<Wire.CertView, Omit<StoredCert, 'certPem' | 'keyCipher'> & { domains: string[] }>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];
