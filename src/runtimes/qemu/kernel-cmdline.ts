// KEY=VALUE words on a kernel command line; Linux hands the ones it does not recognise to
// init as environment variables. The qemu runtime puts only what is not secret here
// (PORT, SUMMON_ADDR, ...: the config vars go to fw_cfg, see qemu-runtime.ts); an exported
// disk image (images:export) carries its config vars this way. The command line has no
// quoting that survives every boot loader, so names and values follow core/config-vars.ts's
// VM rules: upper-case names, so none is a kernel parameter, and one-word values.
import { InvalidInputError } from '../../core/errors.js';
import { configNameProblem, configValueProblem } from '../../core/config-vars.js';

/** x86 COMMAND_LINE_SIZE is 2048 including the trailing NUL. */
export const MAX_CMDLINE = 2047;


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
    const badName = configNameProblem(key);
    if (badName) {
      throw new InvalidInputError(`config var ${JSON.stringify(key)} cannot be passed on a kernel command line: ${badName}`, { key });
    }
    const badValue = configValueProblem(key, value, 'vm');
    if (badValue) throw new InvalidInputError(`${badValue} (it would be passed on a kernel command line)`, { key });
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
