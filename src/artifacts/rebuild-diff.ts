// What differs between a release's build and a rebuild of it from its manifest
// (`summon releases:verify`): pure, from the two build manifests and the artifacts' bytes.
import { open } from 'node:fs/promises';
import type { BuildManifest } from '../core/types.js';

export interface RebuildVerdict {
  result: 'reproducible' | 'differs';
  /** One line per difference, the likely causes (toolchain, lockfiles, inputs) before the bytes. */
  differences: string[];
}

/** Compares everything that went into the build, then the artifact itself. */
export function compareBuilds(was: BuildManifest, now: BuildManifest, bytes: { artifact: string | null; initrd: string | null }): RebuildVerdict {
  const d: string[] = [];
  const first = (s: string) => s.split('\n')[0];
  const tools = new Map(now.toolchain.map((t) => [t.command, t]));
  for (const t of was.toolchain) {
    const n = tools.get(t.command);
    if (!n) d.push(`toolchain: ${t.command} was not run by the rebuild`);
    else if (n.output !== t.output || n.exitCode !== t.exitCode) d.push(`toolchain: ${t.command}: ${JSON.stringify(first(t.output))} then, ${JSON.stringify(first(n.output))} now`);
  }
  for (const t of now.toolchain) if (!was.toolchain.some((x) => x.command === t.command)) d.push(`toolchain: ${t.command} is new in the rebuild`);
  if (was.summonTomlSha256 !== now.summonTomlSha256) d.push('summon.toml differs');
  if (was.tree !== now.tree) d.push(`source tree differs: ${was.tree.slice(0, 12)} then, ${now.tree.slice(0, 12)} now`);
  const locks = new Map(now.lockfiles.map((l) => [l.path, l.sha256]));
  for (const l of was.lockfiles) {
    const n = locks.get(l.path);
    if (n === undefined) d.push(`lockfile ${l.path}: missing in the rebuild`);
    else if (n !== l.sha256) d.push(`lockfile ${l.path}: sha256 ${l.sha256.slice(0, 12)} then, ${n.slice(0, 12)} now`);
  }
  if (was.build.command !== now.build.command) d.push(`[build].command: ${JSON.stringify(was.build.command)} then, ${JSON.stringify(now.build.command)} now`);
  if (was.platform.arch !== now.platform.arch || was.platform.os !== now.platform.os) {
    d.push(`platform: ${was.platform.os}/${was.platform.arch} then, ${now.platform.os}/${now.platform.arch} now`);
  }
  if (was.artifact.sha256 !== now.artifact.sha256) {
    d.push(`artifact ${was.artifact.path}: sha256 ${was.artifact.sha256.slice(0, 12)}… then, ${now.artifact.sha256.slice(0, 12)}… now` +
      `; ${was.artifact.size} bytes then, ${now.artifact.size} now${bytes.artifact ? `; ${bytes.artifact}` : ''}`);
  }
  if ((was.artifact.initrdSha256 ?? null) !== (now.artifact.initrdSha256 ?? null)) {
    d.push(`initrd: sha256 ${(was.artifact.initrdSha256 ?? 'none').slice(0, 12)} then, ${(now.artifact.initrdSha256 ?? 'none').slice(0, 12)} now${bytes.initrd ? `; ${bytes.initrd}` : ''}`);
  }
  const bytesSame = was.artifact.sha256 === now.artifact.sha256 && (was.artifact.initrdSha256 ?? null) === (now.artifact.initrdSha256 ?? null);
  return { result: bytesSame ? 'reproducible' : 'differs', differences: d };
}

/** Where two files first differ: "first difference at byte N (0x..)", or that one is a prefix of the other. */
export async function firstDifference(a: string, b: string): Promise<string | null> {
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const size = 64 * 1024;
    const ba = Buffer.alloc(size);
    const bb = Buffer.alloc(size);
    let offset = 0;
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, size, offset), fb.read(bb, 0, size, offset)]);
      const n = Math.min(ra.bytesRead, rb.bytesRead);
      for (let i = 0; i < n; i++) {
        if (ba[i] !== bb[i]) return `first difference at byte ${offset + i} (0x${(offset + i).toString(16)})`;
      }
      if (ra.bytesRead !== rb.bytesRead) return `one is a prefix of the other: they part at byte ${offset + n}`;
      if (n === 0) return null;
      offset += n;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}
