// How a log line leaves for a drain: an RFC 5424 syslog message in an RFC 6587 octet-counted
// frame (syslog:// and syslog+tls://), or one JSON object per line (https://). Each is made
// once per line and kept as the bytes that go out, so the buffer counts what it holds.
import type { LogLine } from '../control/log-store.js';

/** What a drain buffer holds for one line: the serialised form and its size in bytes. */
export interface Formatted {
  data: string;
  bytes: number;
}

// RFC 5424 PRI = facility × 8 + severity. Facility 1 (user-level) for both; an app's console
// output is informational (6), Summon's own lines about the app are notices (5).
const PRI = { app: 1 * 8 + 6, summon: 1 * 8 + 5 };

/** Receivers must take 2,048 bytes and should take 8,192 (RFC 5425 §4.3.1): longer messages are cut there. */
export const MAX_SYSLOG_MESSAGE_BYTES = 8192;

// SD-IDs with an @ carry a private enterprise number. Summon has none of its own; 32473 is the
// number RFC 5612 sets aside for examples and documentation, used here rather than squatting one.
const SD_ID = 'summon@32473';

/** A header field: PRINTUSASCII (33-126) only, at most `max` characters, "-" when empty (RFC 5424 §6). */
function field(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean || '-';
}

/** A PARAM-VALUE: `"`, `\` and `]` escaped (RFC 5424 §6.3.3). */
function paramValue(s: string): string {
  return s.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** Cuts `text` to at most `bytes` UTF-8 bytes without splitting a character. */
function cutUtf8(text: string, bytes: number): string {
  const b = Buffer.from(text, 'utf8');
  if (b.length <= bytes) return text;
  let end = bytes;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--; // back to the start of a character
  return b.subarray(0, end).toString('utf8');
}

/**
 * Makes `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG` in octet-counted frames:
 * APP-NAME is the app, PROCID the instance id (app lines) or "summon", MSGID the source ("app"
 * or "summon"); Summon's lines carry their component ("release", "deploy", "instance", …) as
 * structured data. TIMESTAMP is when the line happened (the agent stamps console lines as it
 * reads them), not when it is sent. The fields after the timestamp are the same for every line
 * of one instance, so they are cleaned and escaped once per instance, not once per line.
 */
export class SyslogFormatter {
  private readonly host: string;
  private readonly heads = new Map<string, string>();
  // Lines come in bursts stamped with the same millisecond: one Date per millisecond, not per line.
  private lastAt = NaN;
  private lastIso = '';

  constructor(hostname: string) {
    this.host = field(hostname, 255);
  }

  private head(line: LogLine): string {
    const key = `${line.source}\0${line.app}\0${line.proc}`;
    let h = this.heads.get(key);
    if (h === undefined) {
      const app = line.source === 'app';
      h = `${field(line.app, 48)} ${app ? field(line.proc, 128) : 'summon'} ${field(line.source, 32)} ` +
        `${app ? '-' : `[${SD_ID} component="${paramValue(line.proc)}"]`}`;
      if (this.heads.size >= 4096) this.heads.clear(); // instances come and go
      this.heads.set(key, h);
    }
    return h;
  }

  message(line: LogLine): string {
    // MSG is sent as it is (RFC 5424 MSG-ANY: no BOM), after one space.
    if (line.at !== this.lastAt) {
      this.lastAt = line.at;
      this.lastIso = new Date(line.at).toISOString();
    }
    const full = `<${line.source === 'app' ? PRI.app : PRI.summon}>1 ${this.lastIso} ${this.host} ${this.head(line)}` +
      (line.text ? ` ${line.text}` : '');
    return Buffer.byteLength(full) <= MAX_SYSLOG_MESSAGE_BYTES ? full : cutUtf8(full, MAX_SYSLOG_MESSAGE_BYTES);
  }

  /** An RFC 6587 octet-counted frame: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
  frame(line: LogLine): Formatted {
    const msg = this.message(line);
    const len = Buffer.byteLength(msg);
    return { data: `${len} ${msg}`, bytes: len + String(len).length + 1 };
  }
}

/** One message (see SyslogFormatter), for callers that format a line now and then. */
export function syslogMessage(line: LogLine, hostname: string): string {
  return new SyslogFormatter(hostname).message(line);
}

export function syslogFrame(line: LogLine, hostname: string): Formatted {
  return new SyslogFormatter(hostname).frame(line);
}

export interface DrainJsonLine {
  /** When it happened, ms since the epoch, and the same as RFC 3339. */
  at: number;
  time: string;
  app: string;
  source: 'app' | 'summon';
  /** App lines: the instance that printed it. */
  instance?: string;
  /** Summon lines: which part of Summon said it. */
  component?: string;
  text: string;
}

/** One line of an HTTPS drain's body (newline-delimited JSON). */
export function jsonLine(line: LogLine): Formatted {
  const o: DrainJsonLine = {
    at: line.at, time: new Date(line.at).toISOString(), app: line.app, source: line.source,
    ...(line.source === 'app' ? { instance: line.proc } : { component: line.proc }),
    text: line.text,
  };
  const data = `${JSON.stringify(o)}\n`;
  return { data, bytes: Buffer.byteLength(data) };
}
