// Summon's version, once: package.json's. The CLI's --version, the API document, the build
// manifest (platform.summon) and the start line all say this.
import { readFileSync } from 'node:fs';

// From src/core/ or dist/src/core/, package.json is at the repository's (or package's) root.
const candidates = [new URL('../../package.json', import.meta.url), new URL('../../../package.json', import.meta.url)];

function read(): string {
  for (const u of candidates) {
    try {
      const pkg = JSON.parse(readFileSync(u, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'summon' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this one
    }
  }
  throw new Error(`Summon's package.json was not found beside ${import.meta.url}: the installation is incomplete`);
}

export const SUMMON_VERSION = read();
