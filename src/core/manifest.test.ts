import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './manifest.js';
import { ManifestError } from './errors.js';

const base = '[build]\nartifact = "app.js"\n';

function rejects(text: string, key: string, reason: RegExp): void {
  assert.throws(
    () => parseManifest(text),
    (e: unknown) => {
      assert.ok(e instanceof ManifestError, `expected ManifestError, got ${String(e)}`);
      assert.equal(e.key, key);
      assert.match(e.message, reason);
      assert.match(e.message, /^summon\.toml: /);
      return true;
    },
  );
}

test('defaults fill every section', () => {
  const m = parseManifest(base);
  assert.equal(m.build.artifact, 'app.js');
  assert.equal(m.build.timeoutMs, 600_000);
  assert.deepEqual(m.build.toolchain, []);
  assert.equal(m.run.target, 'process');
  assert.equal(m.run.port, 8080);
  assert.equal(m.run.memoryBytes, 128 * 1024 * 1024);
  assert.equal(m.health.kind, 'tcp');
  assert.equal(m.health.unhealthyThreshold, 3);
  assert.deepEqual(m.scale, { min: 1, max: 10, targetCpu: 0.8, idleTimeoutMs: 300_000 });
  assert.deepEqual(m.deploy, { maxSurge: 1, maxUnavailable: 0, drainTimeoutMs: 10_000 });
});

test('every key is read', () => {
  const m = parseManifest(`
[build]
command = "make"
artifact = "out/app"
test = "make test"
timeout = "90s"
toolchain = ["ocaml -version", "dune --version"]
memory = "2G"
[run]
target = "qemu"
args = ["--port", "{port}"]
port = 80
memory = "256M"
cpu = 0.5
initrd = "out/initrd.gz"
cmdline = "quiet"
network = "user"
[health]
path = "/healthy"
interval = "500ms"
timeout = "250ms"
healthy_threshold = 2
unhealthy_threshold = 4
grace = "30s"
[scale]
min = 0
max = 4
target_cpu = 0.5
idle_timeout = "2s"
[deploy]
max_surge = 2
max_unavailable = 1
drain_timeout = "1h"
`);
  assert.deepEqual(m.build, {
    command: 'make', artifact: 'out/app', test: 'make test', timeoutMs: 90_000,
    toolchain: ['ocaml -version', 'dune --version'], memoryBytes: 2 * 1024 ** 3,
  });
  assert.deepEqual(m.run, {
    target: 'qemu', args: ['--port', '{port}'], port: 80, memoryBytes: 256 * 1024 * 1024, cpu: 0.5,
    initrd: 'out/initrd.gz', cmdline: 'quiet', network: 'user',
  });
  assert.deepEqual(m.health, {
    kind: 'http', path: '/healthy', intervalMs: 500, timeoutMs: 250,
    healthyThreshold: 2, unhealthyThreshold: 4, graceMs: 30_000,
  });
  assert.deepEqual(m.scale, { min: 0, max: 4, targetCpu: 0.5, idleTimeoutMs: 2000 });
  assert.deepEqual(m.deploy, { maxSurge: 2, maxUnavailable: 1, drainTimeoutMs: 3_600_000 });
});

test('[run].network: auto is the same as leaving it out; tap and user are kept', () => {
  const base2 = '[build]\nartifact = "a"\n[run]\ntarget = "qemu"\n';
  assert.equal(parseManifest(base2).run.network, undefined);
  assert.equal(parseManifest(`${base2}network = "auto"\n`).run.network, undefined);
  assert.equal(parseManifest(`${base2}network = "tap"\n`).run.network, 'tap');
});

test('[run].arch: canonical names are kept, aliases stored as their canonical name, absent when not given', () => {
  const base2 = '[build]\nartifact = "a"\n[run]\ntarget = "qemu"\n';
  assert.equal(parseManifest(base2).run.arch, undefined);
  for (const [given, want] of [['x86_64', 'x86_64'], ['aarch64', 'aarch64'], ['amd64', 'x86_64'], ['arm64', 'aarch64'], ['x64', 'x86_64']]) {
    assert.equal(parseManifest(`${base2}arch = "${given}"\n`).run.arch, want, given);
  }
});

test('bad values name the key and the reason', () => {
  rejects(`${base}[run]\narch = "armv7"\n`, 'run.arch', /arch must be one of x86_64, aarch64 \(or amd64 for x86_64, x64 for x86_64, arm64 for aarch64\), got "armv7"/);
  rejects(`${base}[run]\narch = 64\n`, 'run.arch', /./);
  rejects('[build\n', '', /not valid TOML/);
  rejects('[run]\nport = 1\n', 'build', /required/);
  rejects('[build]\ncommand = "make"\n', 'build.artifact', /required/);
  rejects(`${base}surprise = 1\n`, 'build.surprise', /unknown key "surprise"/);
  rejects(`${base}[scaling]\nmin = 1\n`, 'scaling', /unknown key "scaling"/);
  rejects('[build]\nartifact = "../escape"\n', 'build.artifact', /inside the checkout/);
  rejects('[build]\nartifact = "/etc/passwd"\n', 'build.artifact', /inside the checkout/);
  rejects(`${base}timeout = "10 minutes"\n`, 'build.timeout', /duration/);
  rejects(`${base}[run]\ntarget = "xen"\n`, 'run.target', /process, qemu, solo5-hvt, solo5-spt/);
  rejects(`${base}[run]\nport = 70000\n`, 'run.port', /./);
  rejects(`${base}[run]\nport = "80"\n`, 'run.port', /number/);
  rejects(`${base}[run]\nmemory = "lots"\n`, 'run.memory', /size/);
  rejects(`${base}[run]\nmemory = "1M"\n`, 'run.memory', /at least 16M/);
  rejects(`${base}[run]\nargs = "--port"\n`, 'run.args', /array/);
  rejects(`${base}[run]\nnetwork = "bridge"\n`, 'run.network', /auto.*tap.*user/);
  rejects(`${base}[run]\ntarget = "solo5-spt"\nnetwork = "user"\n`, 'run.network', /solo5 tenders have no user-mode network/);
  rejects(`${base}[health]\npath = "healthy"\n`, 'health.path', /start with "\/"/);
  rejects(`${base}[health]\nunhealthy_threshold = 0\n`, 'health.unhealthy_threshold', /./);
  rejects(`${base}[scale]\nmin = 3\nmax = 2\n`, 'scale.min', /greater than max/);
  rejects(`${base}[scale]\ntarget_cpu = 80\n`, 'scale.target_cpu', /./);
  rejects(`${base}[scale]\nmin = -1\n`, 'scale.min', /./);
  rejects(`${base}[deploy]\nmax_surge = 0\nmax_unavailable = 0\n`, 'deploy.max_surge', /never progress/);
});

test('inputs are bounded: durations, health checks, memory and the file itself (regressions from the hardening review)', () => {
  // `timeout = "1000h"` used to kill the build at once (past Node's ~24.8-day timer limit).
  rejects(`${base}timeout = "1000h"\n`, 'build.timeout', /from 1\.0s to 12h, got "1000h"/);
  rejects(`${base}timeout = "0ms"\n`, 'build.timeout', /from 1\.0s to 12h/);
  // `interval = "0ms"` sent 5,000 probes a second.
  rejects(`${base}[health]\ninterval = "0ms"\n`, 'health.interval', /from 100ms to 1h, got "0ms"/);
  rejects(`${base}[health]\ntimeout = "5m"\n`, 'health.timeout', /from 10ms to 1m/);
  rejects(`${base}[scale]\nidle_timeout = "9000h"\n`, 'scale.idle_timeout', /to 168h/);
  rejects(`${base}[deploy]\ndrain_timeout = "2h"\n`, 'deploy.drain_timeout', /to 1h/);
  // A health path with CR/LF was written raw into the probe's request.
  rejects(`${base}[health]\npath = "/healthy HTTP/1.1\\r\\nHost: evil\\r\\n"\n`, 'health.path', /visible ASCII.*CR or LF/);
  rejects(`${base}[health]\npath = "/a b"\n`, 'health.path', /no spaces/);
  rejects(`${base}[health]\npath = "/${'a'.repeat(1024)}"\n`, 'health.path', /at most 1024/);
  assert.equal(parseManifest(`${base}[health]\npath = "/healthy?full=1&x=%20"\n`).health.path, '/healthy?full=1&x=%20');
  // `memory = "99999999999999999999G"` was accepted.
  rejects(`${base}[run]\nmemory = "99999999999999999999G"\n`, 'run.memory', /size/);
  assert.throws(() => parseManifest(`${base}[run]\nmemory = "2G"\n`, 'summon.toml', { maxMemoryBytes: 1024 ** 3 }),
    /run\.memory: memory must be at most 1G \(what a host here has\), got "2G"/);
  assert.equal(parseManifest(`${base}[run]\nmemory = "1G"\n`, 'summon.toml', { maxMemoryBytes: 1024 ** 3 }).run.memoryBytes, 1024 ** 3);
  // 2,000,000 tiny tables (21 MB) froze every app's traffic while they were parsed.
  const huge = base + '[x]\n'.repeat(20_000);
  // Refused by its size, not by the parser (the repeated table would be a TOML error).
  assert.throws(() => parseManifest(huge), (e: unknown) => e instanceof ManifestError && /is 78\.\dK; the limit is 64K/.test(e.message));
});

test('[build].memory defaults to 1G; [run].cpu is a number of cores within its range', () => {
  const base = '[build]\nartifact = "a"\n';
  assert.equal(parseManifest(base).build.memoryBytes, 1024 ** 3);
  assert.equal(parseManifest(base).run.cpu, undefined);
  assert.throws(() => parseManifest(`${base}[run]\ncpu = 0`), /run\.cpu.*at least 0\.01/);
  assert.throws(() => parseManifest(`${base}[run]\ncpu = 65`), /run\.cpu.*at most 64/);
  assert.throws(() => parseManifest(`${base}[run]\ncpu = "1"`), /run\.cpu.*number of cores/);
  assert.throws(() => parseManifest(`${base}memory = "1K"`), /build\.memory.*at least 16M/);
});

test('docs/manifest.md documents every key of every table, and no key the parser refuses; its example parses', async () => {
  const { readFile } = await import('node:fs/promises');
  const { manifestKeys } = await import('./manifest.js');
  const doc = await readFile(new URL('../../../docs/manifest.md', import.meta.url), 'utf8');
  const documented: Record<string, string[]> = {};
  for (const section of doc.split(/^## /m).slice(1)) {
    const table = /^`\[(\w+)\]`/.exec(section)?.[1];
    if (!table) continue;
    documented[table] = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]).sort();
  }
  assert.deepEqual(documented, Object.fromEntries(Object.entries(manifestKeys()).map(([t, keys]) => [t, [...keys].sort()])));
  const example = /## An example\n\n```toml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, 'the example is there');
  assert.equal(parseManifest(example).health.graceMs, 30_000);
});

test('[http]: force_https and hsts_max_age, defaults off, bounds and types refused by name', async () => {
  const { httpPolicyOf, MAX_HSTS_MAX_AGE } = await import('./manifest.js');
  const base = '[build]\nartifact = "a"\n';
  assert.deepEqual(parseManifest(base).http, { forceHttps: false, hstsMaxAge: null });
  assert.deepEqual(parseManifest(`${base}[http]\nforce_https = true\nhsts_max_age = 31536000\n`).http, { forceHttps: true, hstsMaxAge: 31_536_000 });
  assert.deepEqual(parseManifest(`${base}[http]\nhsts_max_age = 0\n`).http, { forceHttps: false, hstsMaxAge: 0 });
  assert.throws(() => parseManifest(`${base}[http]\nforce_https = "yes"\n`), /summon\.toml: http\.force_https: force_https must be true or false/);
  assert.throws(() => parseManifest(`${base}[http]\nhsts_max_age = -1\n`), /http\.hsts_max_age: hsts_max_age must be from 0 to 63072000/);
  assert.throws(() => parseManifest(`${base}[http]\nhsts_max_age = ${MAX_HSTS_MAX_AGE + 1}\n`), /http\.hsts_max_age: .*two years/);
  assert.throws(() => parseManifest(`${base}[http]\nhsts_max_age = 1.5\n`), /http\.hsts_max_age: hsts_max_age must be a whole number/);
  assert.throws(() => parseManifest(`${base}[http]\nhsts = 1\n`), /http\.hsts: unknown key "hsts"/);
  // A release stored before [http] existed has no http: the default policy.
  assert.deepEqual(httpPolicyOf({}), { forceHttps: false, hstsMaxAge: null });
  assert.deepEqual(httpPolicyOf({ http: { forceHttps: true, hstsMaxAge: 60 } }), { forceHttps: true, hstsMaxAge: 60 });
});

test('[scale].regions and [scale].host_labels: parsed for placement, refused when not labels', () => {
  const m = parseManifest(`${base}[scale]\nregions = ["eu-west", "us", "eu-west"]\nhost_labels = { disk = "ssd" }\n`);
  assert.deepEqual(m.scale.regions, ['eu-west', 'us']);
  assert.deepEqual(m.scale.hostLabels, { disk: 'ssd' });
  const none = parseManifest(base);
  assert.equal('regions' in none.scale, false);
  assert.equal('hostLabels' in none.scale, false);
  rejects(`${base}[scale]\nregions = []\n`, 'scale.regions', /at least one region/);
  rejects(`${base}[scale]\nregions = ["eu west"]\n`, 'scale.regions.0', /each region is 1-63/);
  rejects(`${base}[scale]\nhost_labels = { Disk = "ssd" }\n`, 'scale.host_labels', /label key/);
  rejects(`${base}[scale]\nhost_labels = { disk = "" }\n`, 'scale.host_labels.disk', /label value/);
});

test('[test].smoke: commands and a timeout, absent without any, bounds refused by name', () => {
  const base = '[build]\nartifact = "a"\n';
  assert.equal('test' in parseManifest(base), false);
  assert.equal('test' in parseManifest(`${base}[test]\nsmoke = []\n`), false);
  assert.deepEqual(parseManifest(`${base}[test]\nsmoke = ["curl -sf \\"$SUMMON_TEST_URL/healthy\\"", "node smoke.mjs"]\n`).test,
    { smoke: ['curl -sf "$SUMMON_TEST_URL/healthy"', 'node smoke.mjs'], timeoutMs: 60_000 });
  assert.equal(parseManifest(`${base}[test]\nsmoke = ["true"]\ntimeout = "5m"\n`).test?.timeoutMs, 300_000);
  assert.throws(() => parseManifest(`${base}[test]\nsmoke = [""]\n`), /summon\.toml: test\.smoke\.0: a smoke command cannot be empty/);
  assert.throws(() => parseManifest(`${base}[test]\nsmoke = "true"\n`), /test\.smoke/);
  assert.throws(() => parseManifest(`${base}[test]\nsmoke = [${Array.from({ length: 21 }, () => '"true"').join(', ')}]\n`), /test\.smoke: at most 20 smoke commands/);
  assert.throws(() => parseManifest(`${base}[test]\nsmoke = ["true"]\ntimeout = "31m"\n`), /test\.timeout: timeout must be from 1\.0s to 30m, got "31m"/);
  assert.throws(() => parseManifest(`${base}[test]\nsmok = ["true"]\n`), /test\.smok: unknown key "smok"/);
});
