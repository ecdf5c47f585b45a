// The receiving side of RFC 6587 octet counting, for the tests' and benchmarks' own syslog
// receivers (a node:tls one where rsyslog has no TLS module) and for checking what a drain sends.
// Frames may arrive split anywhere, several to a chunk; lengths count bytes, not characters.

export interface SyslogFields {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  structuredData: string;
  msg: string;
}

export class OctetFrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (message: string) => void) {}

  /** Feeds bytes; throws on a frame that does not start with a length (the stream is then unusable). */
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const sp = this.buf.indexOf(0x20, at);
      if (sp < 0) {
        if (this.buf.length - at > 10) throw new Error('not an octet-counted frame: no length within 10 bytes');
        break;
      }
      const lenText = this.buf.subarray(at, sp).toString('latin1');
      if (!/^[1-9]\d{0,9}$/.test(lenText)) throw new Error(`not an octet-counted frame: ${JSON.stringify(lenText.slice(0, 20))} is not a length`);
      const len = Number(lenText);
      if (this.buf.length < sp + 1 + len) break;
      this.onFrame(this.buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
      at = sp + 1 + len;
    }
    this.buf = at ? this.buf.subarray(at) : this.buf;
  }
}

const SD_RE = /^(-|(?:\[(?:[^\]"\\]|"(?:[^"\\]|\\.)*"|\\.)*\])+)/;

/** Splits an RFC 5424 message into its fields, or returns null when it is not one. */
export function parseSyslogMessage(m: string): SyslogFields | null {
  const head = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(m);
  if (!head) return null;
  const rest = m.slice(head[0].length);
  const sd = SD_RE.exec(rest);
  if (!sd) return null;
  const after = rest.slice(sd[1].length);
  return {
    pri: Number(head[1]), version: Number(head[2]), timestamp: head[3], hostname: head[4], appName: head[5],
    procId: head[6], msgId: head[7], structuredData: sd[1], msg: after.startsWith(' ') ? after.slice(1) : after,
  };
}
