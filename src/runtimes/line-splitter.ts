import type { Readable } from 'node:stream';

/** Calls `onLine` for every complete line of `stream` (and the unterminated tail at end). */
export function forEachLine(stream: Readable, onLine: (line: string) => void, maxLine = 16 * 1024): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    // Walk with an index and cut the remainder once per chunk, not once per line.
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf('\n', start)) >= 0) {
      const end = nl > start && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      onLine(buf.slice(start, end));
      start = nl + 1;
    }
    buf = buf.slice(start);
    if (buf.length > maxLine) {
      onLine(buf);
      buf = '';
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
  });
}
