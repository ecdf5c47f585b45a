// The domain of Summon. Plain data only: everything here is stored, sent over the wire
// and fed to the planners. Times are epoch milliseconds.
import type { Manifest, Target } from './manifest.js';
import type { Arch, ArchSupport } from './arch.js';
export type { Manifest, Target } from './manifest.js';
export type { Arch, ArchSupport } from './arch.js';

/**
 * release:   building ─► testing ─► ready ─► deploying ─► live ─► superseded
 *                │          │                  │
 *                └──────────┴──► failed ◄──────┘   (the live release keeps serving)
 */
export type ReleaseStatus = 'building' | 'testing' | 'ready' | 'deploying' | 'live' | 'superseded' | 'failed';

/**
 * instance:  pending ─► starting ─► healthy ◄─► unhealthy ─► draining ─► stopped
 *                          │            │
 *                          └──► crashed ◄┘ ──► (restart with backoff) ─► starting
 */
export type InstanceState = 'pending' | 'starting' | 'healthy' | 'unhealthy' | 'draining' | 'stopped' | 'crashed';

export interface ScalePolicy {
  min: number;
  max: number;
  targetCpu: number;
  idleTimeoutMs: number;
}

export interface App {
  name: string;
  createdAt: number;
  /** Instances wanted now (ps:scale, the autoscaler and wake-ups move it within [min, max]). */
  desiredCount: number;
  /** Set by `summon autoscale`; when null the live release's [scale] applies. */
  scalePolicy: ScalePolicy | null;
  /** The release that serves (null before the first successful deploy). */
  liveVersion: number | null;
  /** The release being rolled out, if any. */
  targetVersion: number | null;
}

export interface LockfileDigest {
  path: string;
  sha256: string;
}

export interface ToolchainVersion {
  command: string;
  output: string;
  exitCode: number;
}

/** What exactly went into a release: enough to rebuild it or to audit it. */
export interface BuildManifest {
  schema: 'summon.build/v1';
  app: string;
  commit: string;
  tree: string;
  ref: string;
  summonTomlSha256: string;
  build: { command: string | null; test: string | null; timeoutMs: number };
  platform: { os: string; arch: string; kernel: string; node: string; summon: string };
  toolchain: ToolchainVersion[];
  lockfiles: LockfileDigest[];
  artifact: {
    path: string; sha256: string; size: number; target: Target; initrdSha256?: string;
    /** The architecture the instance needs: detected from the artifact's first bytes, else
     *  [run].arch; absent when neither says (a script, a disk). Releases before it: absent. */
    arch?: Arch;
    /** How it was known: what the header is ("arm64 Linux Image …"), or "[run].arch". */
    archFrom?: string;
  };
  steps: { name: string; startedAt: number; durationMs: number; exitCode: number | null }[];
  startedAt: number;
  finishedAt: number;
  /** Set when the artifact was built elsewhere and uploaded (`summon deploy`): who uploaded it
   *  and what they declared about it; absent for a build Summon ran. */
  origin?: { kind: 'upload'; by: string; tokenId: string | null; declared: Record<string, string> };
  /** [test].smoke as run against a started instance of this release before it took traffic;
   *  absent when the release has no smoke commands (or has not reached them). */
  smoke?: SmokeRecord;
  /** Set on a release promoted from an earlier stage of a pipeline (the same artifact). */
  promotedFrom?: { app: string; version: number; pipeline: string; by: string };
}

/** One run of a release's smoke commands (control/smoke.ts). */
export interface SmokeRecord {
  result: 'passed' | 'failed';
  /** The instance they ran against, and its URL ($SUMMON_TEST_URL). */
  instance: string;
  url: string;
  startedAt: number;
  durationMs: number;
  timeoutMs: number;
  /** Each command run, in order (the first that failed is the last). Output: its last 4 KiB. */
  steps: { command: string; exitCode: number | null; timedOut: boolean; durationMs: number; output: string }[];
  /** Why it failed, as the release's reason says. */
  reason: string | null;
}

export interface Release {
  app: string;
  version: number;
  status: ReleaseStatus;
  /** Why it failed, or what it is (e.g. "Deploy 1a2b3c4", "Rollback to v2", "Set FOO"). */
  description: string;
  reason: string | null;
  commit: string | null;
  artifactSha256: string | null;
  initrdSha256: string | null;
  manifest: Manifest | null;
  buildManifest: BuildManifest | null;
  /** Config vars of this release, encrypted (see control/secrets.ts). */
  configCipher: string | null;
  /** Set when an instance of it was refused because its artifact (or initrd) is missing or
   *  altered in the blob store: what was found ("artifact of v3 altered: sha256 …≠…"). */
  brokenReason: string | null;
  brokenAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface Instance {
  id: string;
  app: string;
  version: number;
  host: string;
  state: InstanceState;
  /** Address and port the router forwards to. */
  address: string;
  port: number | null;
  pid: number | null;
  startedAt: number | null;
  healthyAt: number | null;
  restarts: number;
  /** Why the instance is in its state (last health answer, exit code, last console lines). */
  reason: string | null;
  nextRetryAt: number | null;
  /** CPU in cores (1.0 = one core busy) and resident memory, from the last sample. */
  cpu: number | null;
  memoryBytes: number | null;
  updatedAt: number;
}

export interface SummonEvent {
  id: number;
  app: string | null;
  type: string;
  message: string;
  data: Record<string, unknown>;
  at: number;
}

export interface RuntimeCapability {
  target: Target;
  available: boolean;
  /** For VM targets: the acceleration in use. */
  accel?: 'kvm' | 'tcg';
  kvm?: boolean;
  /** The architectures it runs, each natively (KVM; a process: the host's own CPU) or
   *  emulated (QEMU's TCG). Absent (a host from before it): the host's own architecture. */
  arches?: ArchSupport[];
  reason: string;
}

export interface Host {
  id: string;
  address: string;
  runtimes: RuntimeCapability[];
  lastSeenAt: number;
}
