// Bundles the server into one directly executable file: dist/server.mjs with a shebang,
// which Summon stores as the artifact and runs as `server.mjs --port N`.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';

const source = await readFile(new URL('./src/server.mjs', import.meta.url), 'utf8');
await mkdir(new URL('./dist/', import.meta.url), { recursive: true });
const out = new URL('./dist/server.mjs', import.meta.url);
await writeFile(out, `#!/usr/bin/env node\n${source.replace(/^#!.*\n/, '')}`);
await chmod(out, 0o755);
console.log(`built dist/server.mjs (${source.length} bytes)`);
