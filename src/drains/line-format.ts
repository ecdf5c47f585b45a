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
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`: APP-NAME is the app, PROCID the
 * instance id (app lines) or "summon", MSGID the source ("app" or "summon"); Summon's lines
 * carry their component ("release", "deploy", "instance", …) as structured data. TIMESTAMP is
 * when the line happened (the agent stamps console lines as they are read), not when it is sent.
 */
export function syslogMessage(line: LogLine, hostname: string): string {
  const app = line.source === 'app';
  const head = `<${app ? PRI.app : PRI.summon}>1 ${new Date(line.at).toISOString()} ${field(hostname, 255)} ${field(line.app, 48)} ` +
    `${app ? field(line.proc, 128) : 'summon'} ${field(line.source, 32)} ` +
    `${app ? '-' : `[${SD_ID} component="${paramValue(line.proc)}"]`}`;
  // MSG is sent as it is (RFC 5424 MSG-ANY: no BOM), after one space.
  const msg = line.text ? ` ${line.text}` : '';
  const full = head + msg;
  return Buffer.byteLength(full) <= MAX_SYSLOG_MESSAGE_BYTES ? full : cutUtf8(full, MAX_SYSLOG_MESSAGE_BYTES);
}

/** An RFC 6587 octet-counted frame: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function syslogFrame(line: LogLine, hostname: string): Formatted {
  const msg = syslogMessage(line, hostname);
  const len = Buffer.byteLength(msg);
  const data = `${len} ${msg}`;
  return { data, bytes: len + String(len).length + 1 };
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
