// Builds the dashboard (src/web) into dist/web with Vite when it exists.
import { existsSync } from 'node:fs';
if (!existsSync('src/web/index.html')) process.exit(0);
const { build } = await import('vite');
await build({ root: 'src/web', logLevel: 'warn', build: { outDir: '../../dist/web', emptyOutDir: true } });
