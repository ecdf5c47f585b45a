// The npm package is what `npm pack` puts in it: package.json's "files". It must carry every
// module the product loads and none of the test code (tests, contract suites, src/testing/,
// router/test-support): a product module importing test code would load it in production, and
// a module left out would fail at the first import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function packedFiles(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`npm pack --dry-run failed: ${stderr}`));
      const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
      resolve(pack.files.map((f) => f.path));
    });
  });
}

/** The relative specifiers of a compiled module's static and dynamic imports. */
export function relativeImports(source: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;
  for (let m = re.exec(source); m; m = re.exec(source)) out.push(m[2]);
  return out;
}

test('relativeImports finds static, bare and dynamic relative imports and nothing else', () => {
  const src = `import { a } from './a.js';\nimport './side.js';\nconst b = await import('../b.js');\nimport x from 'node:fs';\nexport * from "./c.js";`;
  assert.deepEqual(relativeImports(src), ['./a.js', './side.js', '../b.js', './c.js']);
});

test('the package carries the product, every module it imports, and no test code', async () => {
  const files = await packedFiles();
  const packed = new Set(files);
  for (const must of ['bin/summon.js', 'dist/src/cli/main.js', 'dist/src/server.js', 'dist/web/index.html', 'package.json', 'README.md']) {
    assert.ok(packed.has(must), `the package lacks ${must} (package.json "files")`);
  }
  const testCode = files.filter((f) => /\.test\.js$|\.contract\.js$|^dist\/src\/testing\/|test-support\.js$/.test(f));
  assert.deepEqual(testCode, [], 'test code in the package');
  const missing: string[] = [];
  for (const f of files.filter((p) => p.endsWith('.js') && (p.startsWith('dist/') || p.startsWith('bin/')))) {
    for (const spec of relativeImports(readFileSync(join(root, f), 'utf8'))) {
      const target = normalize(join(dirname(f), spec));
      if (!packed.has(target)) missing.push(`${f} imports ${spec}`);
    }
  }
  assert.deepEqual(missing, [], 'modules the package imports but does not carry');
});
