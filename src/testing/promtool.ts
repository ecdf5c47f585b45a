// Runs `promtool check metrics` (Debian's prometheus package, scripts/setup.sh) on an
// exposition: it parses the text format and lints names, types and help, and exits non-zero
// with one line per problem.
import { spawn } from 'node:child_process';

export const PROMTOOL = '/usr/bin/promtool';

export function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, output }));
    p.stdin.end(text);
  });
}
