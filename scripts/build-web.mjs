// Builds the dashboard (src/web) into dist/web: tsc checks its types (tsconfig.web.json: the
// components against the SDK's types), then esbuild bundles main.ts (Preact, htm, uPlot and the
// SDK) and its CSS into dist/web/assets, and index.html is written to point at them. The built
// files ship with the package; nothing is built at run time.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

if (!existsSync('src/web/index.html')) process.exit(0);
try {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.web.json'], { stdio: 'inherit' });
} catch {
  console.error('the dashboard (src/web) does not type-check: see the errors above');
  process.exit(1);
}
await rm('dist/web', { recursive: true, force: true });
await mkdir('dist/web/assets', { recursive: true });
await build({
  entryPoints: ['src/web/main.ts'],
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: true,
  target: ['es2022'],
  outdir: 'dist/web/assets',
  entryNames: 'main',
  logLevel: 'warning',
});
const html = (await readFile('src/web/index.html', 'utf8'))
  .replace('<script type="module" src="./main.ts"></script>',
    '<link rel="stylesheet" href="/assets/main.css" />\n    <script type="module" src="/assets/main.js"></script>');
if (!html.includes('/assets/main.js')) throw new Error('src/web/index.html no longer loads ./main.ts as a module; update scripts/build-web.mjs');
await writeFile('dist/web/index.html', html);
