import type { Readable } from 'node:stream';

/** Calls `onLine` for every complete line of `stream` (and the unterminated tail at end). */
export function forEachLine(stream: Readable, onLine: (line: string) => void, maxLine = 16 * 1024): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, nl).replace(/\r$/, ''));
      buf = buf.slice(nl + 1);
    }
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
