// Builds the dashboard (src/web) into dist/web: esbuild bundles main.js (Preact, htm, uPlot and
// the SDK) and its CSS into dist/web/assets, and index.html is written to point at them. The
// built files ship with the package; nothing is built at run time.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { build } from 'esbuild';

if (!existsSync('src/web/index.html')) process.exit(0);
await rm('dist/web', { recursive: true, force: true });
await mkdir('dist/web/assets', { recursive: true });
await build({
  entryPoints: ['src/web/main.js'],
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
  .replace('<script type="module" src="./main.js"></script>',
    '<link rel="stylesheet" href="/assets/main.css" />\n    <script type="module" src="/assets/main.js"></script>');
if (!html.includes('/assets/main.js')) throw new Error('src/web/index.html no longer loads ./main.js as a module; update scripts/build-web.mjs');
await writeFile('dist/web/index.html', html);
