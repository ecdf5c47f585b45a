// What every command gets: the API client from the saved login, and plain output helpers.
import { Option } from 'commander';
import { SummonError } from '../core/errors.js';
import { SummonClient } from '../sdk/client.js';
import { loadLogin } from './login-file.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** The directory a command runs in (the git remote `summon` is looked up here); default process.cwd(). */
  cwd?: string;
  /** Where `summon login` reads a token, and `auth:git-credential` git's request; default process.stdin. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  /** Whether stdout is a terminal: colour and `open`'s browser only then; default false. */
  tty?: boolean;
  /** Whether stderr is a terminal (the red `error:`); default false. */
  errTty?: boolean;
  /** The command line that runs this CLI again (git's credential helper); default node and this script. */
  self?: string[];
  /** Writes a prompt with no newline after it (stderr); default: `err`. */
  prompt?: (s: string) => void;
  /** Ends a `--tail` (as Ctrl-C does); for callers other than a terminal. */
  signal?: AbortSignal;
}

/** Colour only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function colours(io: Io, stream: 'out' | 'err' = 'out'): { red: (s: string) => string; green: (s: string) => string; yellow: (s: string) => string; dim: (s: string) => string } {
  const on = (stream === 'out' ? io.tty : io.errTty) === true && !io.env.NO_COLOR;
  const paint = (code: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { red: paint(31), green: paint(32), yellow: paint(33), dim: paint(2) };
}

/** The colour of a state or status word: green for running/live/healthy, red for failed/crashed, yellow for in-between. */
export function stateColour(io: Io, word: string): string {
  const c = colours(io);
  if (/^(running|live|healthy|up|deployed)\b/.test(word)) return c.green(word);
  if (/^(failed|crashed|broken|down|unreachable)\b|broken/.test(word)) return c.red(word);
  if (/^(starting|deploying|draining|stopping|pending|building|idle)\b/.test(word)) return c.yellow(word);
  return word;
}

export async function client(io: Io): Promise<SummonClient> {
  const login = await loadLogin(io.env);
  if (!login.api || !login.token) {
    throw new SummonError('unauthorized', 'not logged in: start Summon with `summon up` (it logs you in), or run `summon login --api URL` (it asks for the token), or set SUMMON_API and SUMMON_TOKEN');
  }
  return new SummonClient({ api: login.api, token: login.token });
}

/** A plain column printer: left-aligned, two spaces apart, header in upper case. */
/** `paint` colours a body cell after padding (so escape codes do not skew the widths). */
export function table(rows: Record<string, unknown>[], columns: string[], paint?: (column: string, value: string) => string): string {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => fmt(r[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row, r) => row.map((c, i) => {
    const padded = i === row.length - 1 ? c : c.padEnd(widths[i]);
    if (!paint || r === 0) return padded;
    const painted = paint(columns[i], c);
    return painted === c ? padded : painted + padded.slice(c.length);
  }).join('  ').trimEnd()).join('\n');
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-';
  return String(v);
}

export function ago(ms: number | null, now = Date.now()): string {
  if (ms === null) return '-';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

export function parseVersion(v: string): number {
  const n = Number(v.replace(/^v/, ''));
  if (!Number.isInteger(n) || n < 1) throw new SummonError('invalid_input', `release must be written vN or N (e.g. v3), got ${JSON.stringify(v)}`);
  return n;
}

export function json(io: Io, v: unknown): void {
  io.out(JSON.stringify(v, null, 2));
}

/** `--json` on an action (a command that changes something). */
export function jsonOption(): Option {
  return new Option('--json', 'machine-readable output: progress lines on stderr, the result as one JSON value on stdout');
}

/**
 * An action's output. Without --json: its progress lines and then its human summary on stdout.
 * With --json: the progress lines on stderr (a script still sees them), and on stdout only the
 * result, one JSON value, so `summon … --json | jq` reads it whatever the operation printed.
 */
export function actionOut(io: Io, o: { json?: boolean }): { line: (l: string) => void; done: (result: unknown, human: () => void) => void } {
  return {
    line: (l) => (o.json ? io.err(l) : io.out(l)),
    done: (result, human) => (o.json ? json(io, result) : human()),
  };
}

/** A streamed operation's result frame as --json prints it (without the frame marker). */
export function streamedResult(r: { [k: string]: unknown }): Record<string, unknown> {
  const { done: _done, ...rest } = r;
  return rest;
}
