// The app manifest, `summon.toml`. Parsing is strict: unknown keys and bad values are
// rejected with the file, the key and the reason, so a push fails before anything runs.
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { ManifestError } from './errors.js';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.js';
import { ARCH_ALIASES, ARCHES, canonicalArch, type Arch } from './arch.js';
import { LABEL_KEY_RE, LABEL_VALUE_RE } from './labels.js';

export const TARGETS = ['process', 'qemu', 'solo5-hvt', 'solo5-spt'] as const;
export type Target = (typeof TARGETS)[number];

/** summon.toml is refused past this size, before it is parsed. */
export const MAX_MANIFEST_BYTES = 64 * 1024;

/** Every duration has a stated range (README: "Limits"); a timer past ~24.8 days would fire
 *  at once in Node, so no range reaches that. */
export const DURATION_LIMITS = {
  'build.timeout': { min: 1000, max: 12 * 3_600_000 },
  'health.interval': { min: 100, max: 3_600_000 },
  'health.timeout': { min: 10, max: 60_000 },
  'health.grace': { min: 0, max: 3_600_000 },
  'scale.idle_timeout': { min: 1000, max: 7 * 24 * 3_600_000 },
  'deploy.drain_timeout': { min: 0, max: 3_600_000 },
  'test.timeout': { min: 1000, max: 30 * 60_000 },
} as const;

/** [test].smoke: at most this many commands, each at most this long. */
export const MAX_SMOKE_COMMANDS = 20;
export const MAX_SMOKE_COMMAND_CHARS = 4096;

const duration = (key: keyof typeof DURATION_LIMITS) => {
  const what = key.split('.')[1];
  const { min, max } = DURATION_LIMITS[key];
  return z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${what} must be a duration like "500ms", "10s", "5m" or "1h", got ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `${what} must be from ${formatDuration(min)} to ${formatDuration(max)}, got ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    return ms;
  });
};

export const MIN_MEMORY_BYTES = 16 * 1024 * 1024;
/** What a build may use unless [build].memory says otherwise, and the most it may ask for. */
export const DEFAULT_BUILD_MEMORY_BYTES = 1024 ** 3;
export const MAX_BUILD_MEMORY_BYTES = 64 * 1024 ** 3;
/** [run].cpu: cores an instance may use (a CFS quota), at most this many. */
export const MAX_CPU = 64;

const size = (maxBytes: number) => z.string().transform((s, ctx) => {
  const bytes = parseSize(s);
  if (bytes === undefined || bytes < MIN_MEMORY_BYTES) {
    ctx.addIssue({ code: 'custom', message: `memory must be a size of at least 16M like "128M" or "1G", got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  if (bytes > maxBytes) {
    ctx.addIssue({ code: 'custom', message: `memory must be at most ${formatSize(maxBytes)} (what a host here has), got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return bytes;
});

/** An HTTP path as the health check sends it: visible ASCII only (no spaces, CR or LF, which
 *  would be written raw into the probe's request line). */
const HEALTH_PATH_RE = /^\/[\x21-\x7e]{0,1023}$/;

const relPath = (what: string) =>
  z.string().min(1).refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), {
    message: `${what} must be a path inside the checkout (relative, no "..")`,
  });

const buildSchema = z
  .object({
    command: z.string().min(1).optional(),
    artifact: relPath('artifact'),
    test: z.string().min(1).optional(),
    timeout: duration('build.timeout').prefault('10m'),
    toolchain: z.array(z.string().min(1)).default([]),
    memory: size(MAX_BUILD_MEMORY_BYTES).prefault(formatSize(DEFAULT_BUILD_MEMORY_BYTES)),
  })
  .strict();

const runSchema = (maxMemoryBytes: number) => z
  .object({
    target: z.enum(TARGETS).prefault('process'),
    args: z.array(z.string()).default([]),
    port: z.number().int().min(1).max(65535).default(8080),
    memory: size(maxMemoryBytes).prefault('128M'),
    cpu: z.number({ message: 'cpu must be a number of cores like 0.5 or 2' }).min(0.01, { message: 'cpu must be at least 0.01 (cores)' }).max(MAX_CPU, { message: `cpu must be at most ${MAX_CPU} (cores)` }).optional(),
    initrd: relPath('initrd').optional(),
    cmdline: z.string().optional(),
    network: z.enum(['auto', 'tap', 'user']).optional(),
    arch: z.string().transform((s, ctx) => {
      const a = canonicalArch(s);
      if (!a) {
        const aliases = Object.entries(ARCH_ALIASES).map(([k, v]) => `${k} for ${v}`).join(', ');
        ctx.addIssue({ code: 'custom', message: `arch must be one of ${ARCHES.join(', ')} (or ${aliases}), got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return a;
    }).optional(),
  })
  .strict()
  .refine((r) => !(r.network === 'user' && r.target.startsWith('solo5-')), {
    message: 'solo5 tenders have no user-mode network: use network = "tap" or leave it out',
    path: ['network'],
  });

const healthSchema = z
  .object({
    path: z.string().startsWith('/', { message: 'path must start with "/"' })
      .regex(HEALTH_PATH_RE, { message: 'path must be at most 1024 visible ASCII characters: no spaces, control characters, CR or LF (percent-encode them)' })
      .optional(),
    interval: duration('health.interval').prefault('1s'),
    timeout: duration('health.timeout').prefault('1s'),
    healthy_threshold: z.number().int().min(1).max(100).default(1),
    unhealthy_threshold: z.number().int().min(1).max(100).default(3),
    grace: duration('health.grace').prefault('60s'),
  })
  .strict();

const scaleSchema = z
  .object({
    min: z.number().int().min(0).max(1000).default(1),
    max: z.number().int().min(1).max(1000).default(10),
    target_cpu: z.number().gt(0).max(1).default(0.8),
    idle_timeout: duration('scale.idle_timeout').prefault('5m'),
    regions: z.array(z.string().regex(LABEL_VALUE_RE, { message: 'each region is 1-63 of A-Z a-z 0-9 . _ - (a letter or digit first), as a host\'s region label' }))
      .min(1, { message: 'list at least one region, or leave regions out (any host)' }).max(32).optional(),
    host_labels: z.record(
      z.string(),
      z.string().regex(LABEL_VALUE_RE, { message: 'a label value is 1-63 of A-Z a-z 0-9 . _ - (a letter or digit first)' }),
    ).refine((r) => Object.keys(r).every((k) => LABEL_KEY_RE.test(k)), { message: 'a label key is a lower-case letter, then up to 62 of a-z 0-9 . _ -' })
      .refine((r) => Object.keys(r).length <= 32, { message: 'at most 32 labels' }).optional(),
  })
  .strict()
  .refine((s) => s.min <= s.max, { message: 'min must not be greater than max', path: ['min'] });

const deploySchema = z
  .object({
    max_surge: z.number().int().min(0).max(100).default(1),
    max_unavailable: z.number().int().min(0).max(100).default(0),
    drain_timeout: duration('deploy.drain_timeout').prefault('10s'),
  })
  .strict()
  .refine((d) => d.max_surge + d.max_unavailable > 0, {
    message: 'max_surge and max_unavailable cannot both be 0 (the rollout could never progress)',
    path: ['max_surge'],
  });

/** [http].hsts_max_age: at most two years (browsers cap it near there; preload lists ask for one). */
export const MAX_HSTS_MAX_AGE = 63_072_000;

const httpSchema = z
  .object({
    force_https: z.boolean({ message: 'force_https must be true or false' }).default(false),
    hsts_max_age: z.number({ message: 'hsts_max_age must be a whole number of seconds like 31536000' })
      .int({ message: 'hsts_max_age must be a whole number of seconds like 31536000' })
      .min(0, { message: `hsts_max_age must be from 0 to ${MAX_HSTS_MAX_AGE} (seconds)` })
      .max(MAX_HSTS_MAX_AGE, { message: `hsts_max_age must be from 0 to ${MAX_HSTS_MAX_AGE} (seconds; two years)` })
      .optional(),
  })
  .strict();

const testSchema = z
  .object({
    smoke: z.array(z.string().min(1, { message: 'a smoke command cannot be empty' }).max(MAX_SMOKE_COMMAND_CHARS, { message: `a smoke command is at most ${MAX_SMOKE_COMMAND_CHARS} characters` }))
      .max(MAX_SMOKE_COMMANDS, { message: `at most ${MAX_SMOKE_COMMANDS} smoke commands` }).default([]),
    timeout: duration('test.timeout').prefault('1m'),
  })
  .strict();

const manifestSchema = (maxMemoryBytes: number) => z
  .object({
    build: buildSchema,
    run: runSchema(maxMemoryBytes).prefault({}),
    health: healthSchema.optional(),
    scale: scaleSchema.prefault({}),
    deploy: deploySchema.prefault({}),
    http: httpSchema.prefault({}),
    test: testSchema.optional(),
  })
  .strict();

/** Every key summon.toml takes, by table (docs/manifest.md documents each; a test holds them equal). */
export function manifestKeys(): Record<string, string[]> {
  const tables = { build: buildSchema, run: runSchema(1), health: healthSchema, scale: scaleSchema, deploy: deploySchema, http: httpSchema, test: testSchema };
  return Object.fromEntries(Object.entries(tables).map(([t, schema]) => [t, Object.keys(schema.shape)]));
}

export interface Manifest {
  build: {
    command?: string; artifact: string; test?: string; timeoutMs: number; toolchain: string[];
    /** [build].memory: the build's cgroup limit (default 1G; absent in releases stored before it existed). */
    memoryBytes?: number;
  };
  run: {
    target: Target; args: string[]; port: number; memoryBytes: number; initrd?: string; cmdline?: string;
    /** [run].cpu: cores, enforced as a CFS quota; absent = no quota. */
    cpu?: number;
    /** VM targets: how the router reaches the guest; absent = auto (tap where the host can). */
    network?: 'tap' | 'user';
    /** [run].arch, canonical (an alias such as arm64 is stored as aarch64): the architecture
     *  the instance needs; absent = the artifact's own, as detected at build. */
    arch?: Arch;
  };
  health: {
    kind: 'http' | 'tcp';
    path?: string;
    intervalMs: number;
    timeoutMs: number;
    healthyThreshold: number;
    unhealthyThreshold: number;
    graceMs: number;
  };
  scale: {
    min: number; max: number; targetCpu: number; idleTimeoutMs: number;
    /** [scale].regions: instances go only to hosts whose `region` label is one of these. */
    regions?: string[];
    /** [scale].host_labels: instances go only to hosts carrying every one of these labels. */
    hostLabels?: Record<string, string>;
  };
  deploy: { maxSurge: number; maxUnavailable: number; drainTimeoutMs: number };
  /** [http]: the edge's HTTPS policy for the app (router/edge-types.ts EdgeAppPolicy); absent in
   *  releases stored before it existed, which have the default (no redirect, no HSTS). */
  http?: { forceHttps: boolean; hstsMaxAge: number | null };
  /** [test]: smoke commands run against a started instance of the release before it takes
   *  traffic, within timeoutMs together; absent when there are none. */
  test?: { smoke: string[]; timeoutMs: number };
}

/** The edge policy of a release's manifest (absent [http]: the default). */
export function httpPolicyOf(m: Pick<Manifest, 'http'>): { forceHttps: boolean; hstsMaxAge: number | null } {
  return { forceHttps: m.http?.forceHttps ?? false, hstsMaxAge: m.http?.hstsMaxAge ?? null };
}

const DEFAULT_HEALTH = { interval: 1000, timeout: 1000, healthy_threshold: 1, unhealthy_threshold: 3, grace: 60_000 };

/** Refuses a manifest of `bytes` past MAX_MANIFEST_BYTES (also before it is read). */
export function checkManifestSize(bytes: number, file = 'summon.toml'): void {
  if (bytes > MAX_MANIFEST_BYTES) {
    throw new ManifestError(file, '', `is ${formatSize(bytes)}; the limit is ${formatSize(MAX_MANIFEST_BYTES)}. A manifest is a few settings: move data out of it`);
  }
}

export interface ManifestLimits {
  /** The most memory an instance may ask for: what the host offers (default 1 TiB). */
  maxMemoryBytes?: number;
}

/** Parses and validates summon.toml text. Throws ManifestError naming the file, key and reason. */
export function parseManifest(text: string, file = 'summon.toml', limits: ManifestLimits = {}): Manifest {
  checkManifestSize(Buffer.byteLength(text), file);
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new ManifestError(file, '', `is not valid TOML: ${msg}`);
  }
  const res = manifestSchema(limits.maxMemoryBytes ?? 1024 ** 4).safeParse(raw);
  if (!res.success) {
    const issue = res.error.issues[0];
    let path = issue.path.map(String);
    let reason = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      path = [...path, keys[0]];
      reason = `unknown key ${JSON.stringify(keys[0])}; every key is listed in docs/manifest.md`;
    } else if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
      reason = 'is required';
    } else if (issue.code === 'invalid_value' && path[0] === 'run' && path[1] === 'target') {
      reason = `target must be one of ${TARGETS.join(', ')}`;
    }
    throw new ManifestError(file, path.join('.'), reason);
  }
  const m = res.data;
  const h = m.health;
  return {
    build: {
      ...(m.build.command ? { command: m.build.command } : {}),
      artifact: m.build.artifact,
      ...(m.build.test ? { test: m.build.test } : {}),
      timeoutMs: m.build.timeout,
      toolchain: m.build.toolchain,
      memoryBytes: m.build.memory,
    },
    run: {
      target: m.run.target,
      args: m.run.args,
      port: m.run.port,
      memoryBytes: m.run.memory,
      ...(m.run.cpu !== undefined ? { cpu: m.run.cpu } : {}),
      ...(m.run.initrd ? { initrd: m.run.initrd } : {}),
      ...(m.run.cmdline ? { cmdline: m.run.cmdline } : {}),
      ...(m.run.network && m.run.network !== 'auto' ? { network: m.run.network } : {}),
      ...(m.run.arch ? { arch: m.run.arch } : {}),
    },
    health: {
      kind: h?.path ? 'http' : 'tcp',
      ...(h?.path ? { path: h.path } : {}),
      intervalMs: h?.interval ?? DEFAULT_HEALTH.interval,
      timeoutMs: h?.timeout ?? DEFAULT_HEALTH.timeout,
      healthyThreshold: h?.healthy_threshold ?? DEFAULT_HEALTH.healthy_threshold,
      unhealthyThreshold: h?.unhealthy_threshold ?? DEFAULT_HEALTH.unhealthy_threshold,
      graceMs: h?.grace ?? DEFAULT_HEALTH.grace,
    },
    scale: {
      min: m.scale.min, max: m.scale.max, targetCpu: m.scale.target_cpu, idleTimeoutMs: m.scale.idle_timeout,
      ...(m.scale.regions ? { regions: [...new Set(m.scale.regions)] } : {}),
      ...(m.scale.host_labels && Object.keys(m.scale.host_labels).length ? { hostLabels: m.scale.host_labels } : {}),
    },
    deploy: {
      maxSurge: m.deploy.max_surge,
      maxUnavailable: m.deploy.max_unavailable,
      drainTimeoutMs: m.deploy.drain_timeout,
    },
    http: { forceHttps: m.http.force_https, hstsMaxAge: m.http.hsts_max_age ?? null },
    ...(m.test && m.test.smoke.length ? { test: { smoke: m.test.smoke, timeoutMs: m.test.timeout } } : {}),
  };
}
