// Config vars reach a VM guest as KEY=VALUE words on the kernel command line; Linux
// hands the ones it does not recognise to init as environment variables. The command
// line has no quoting that survives every boot loader, so values that would need it are
// refused rather than silently mangled.
import { InvalidInputError } from '../../core/errors.js';

/** x86 COMMAND_LINE_SIZE is 2048 including the trailing NUL. */
export const MAX_CMDLINE = 2047;

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Printable ASCII without space, quotes or backslash: each survives Linux's parser as is.
const VALUE_RE = /^[!#-&(-[\]-~]*$/;

export interface CmdlineParts {
  /** Words the runtime always sets (console, panic behaviour). */
  base: string[];
  /** [run].cmdline: trusted text from summon.toml, placed before the variables. */
  extra?: string;
  /** Config vars, then SUMMON_* (the runtime's own win on a clash). */
  env: Record<string, string>;
}

export function buildKernelCmdline(parts: CmdlineParts): string {
  const words = [...parts.base];
  if (parts.extra?.trim()) words.push(parts.extra.trim());
  for (const [key, value] of Object.entries(parts.env)) {
    if (!KEY_RE.test(key)) {
      throw new InvalidInputError(
        `config var ${JSON.stringify(key)} cannot be passed on a kernel command line: names must match ${KEY_RE.source}`,
        { key },
      );
    }
    if (!VALUE_RE.test(value)) {
      throw new InvalidInputError(
        `config var ${key} cannot be passed on a kernel command line: its value holds a space, quote, backslash or ` +
          'non-ASCII character; encode it (e.g. base64) and decode it in the guest',
        { key },
      );
    }
    words.push(`${key}=${value}`);
  }
  const line = words.join(' ');
  if (line.length > MAX_CMDLINE) {
    throw new InvalidInputError(
      `the kernel command line would be ${line.length} bytes, more than Linux accepts (${MAX_CMDLINE}): ` +
        'shorten the config vars or [run].cmdline',
    );
  }
  return line;
}
