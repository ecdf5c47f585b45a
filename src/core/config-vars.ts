// The rules a config var must meet, checked when it is set (PATCH /api/apps/:app/config,
// `summon config:set`) and again by each runtime just before it hands the vars to an
// instance, so a value that could split a boot argument, add a kernel parameter or fail
// every later release is refused at the door rather than at the next deploy.
//
// Names are environment-variable names, for every target. Values depend on the target the
// app runs on: a process gets them as its environment (anything but NUL); a VM guest reads
// them as KEY=VALUE lines (qemu: fw_cfg opt/summon/env; solo5: the summon_env block device), which
// guests split on whitespace, so there they are one printable-ASCII word without quotes or
// backslashes. An app with no release yet gets the VM rules (the stricter), since its first
// push may choose any target.
import { InvalidInputError, InvalidNameError } from './errors.js';
import type { Target } from './manifest.js';

export const CONFIG_NAME_RE = /^[A-Z_][A-Z0-9_]*$/;
export const MAX_CONFIG_NAME = 128;
export const CONFIG_NAME_RULE =
  `config var names are environment-variable names: upper-case letters, digits and "_", not starting with a digit, at most ${MAX_CONFIG_NAME} characters (${CONFIG_NAME_RE.source})`;

/** Which set of value rules applies: process targets, VM targets, or (no release yet) the stricter. */
export type ConfigRules = 'process' | 'vm';

export interface ConfigLimits {
  /** Longest value, in UTF-8 bytes. */
  value: number;
  /** Every NAME=VALUE together, in UTF-8 bytes (one byte more per var for its separator). */
  total: number;
}

export const CONFIG_LIMITS: Record<ConfigRules, ConfigLimits> = {
  // Linux takes one environment string up to 128 KiB and all of them within ARG_MAX; these
  // stay well inside both.
  process: { value: 32 * 1024, total: 256 * 1024 },
  // A guest reads them at boot, often into a fixed buffer (a unikernel's boot arguments).
  vm: { value: 4096, total: 32 * 1024 },
};

/** Printable ASCII except space, '"', "'", and '\': one word every guest parser keeps as is. */
const VM_VALUE_RE = /^[!#-&(-[\]-~]*$/;
export const VM_VALUE_RULE =
  'on VM targets a value is one word of printable ASCII: no spaces, tabs, newlines or other control characters, ' +
  'no quotes (\' ") and no backslash, so it can never split into a second boot argument or kernel parameter; ' +
  'encode such a value (e.g. base64) and decode it in the guest';

export function rulesFor(target: Target | null | undefined): ConfigRules {
  return target === 'process' ? 'process' : 'vm';
}

/** The refusal for `name`, or undefined when it is a good name. */
export function configNameProblem(name: string): string | undefined {
  if (name.length > MAX_CONFIG_NAME || !CONFIG_NAME_RE.test(name)) return CONFIG_NAME_RULE;
  return undefined;
}

export function checkConfigName(name: string): string {
  const p = configNameProblem(name);
  if (p) throw new InvalidNameError('config var', name, p);
  return name;
}

/** Why `value` cannot be the value of `name` under `rules`, or undefined. */
export function configValueProblem(name: string, value: string, rules: ConfigRules): string | undefined {
  const bytes = Buffer.byteLength(value);
  const { value: max } = CONFIG_LIMITS[rules];
  if (bytes > max) return `config var ${name} is ${bytes} bytes; ${rules === 'vm' ? 'on VM targets' : 'for process targets'} a value is at most ${max} bytes`;
  if (rules === 'process') {
    if (value.includes('\0')) return `config var ${name} holds a NUL character, which no environment variable can carry`;
    return undefined;
  }
  if (!VM_VALUE_RE.test(value)) return `config var ${name} holds ${describeBad(value)}: ${VM_VALUE_RULE}`;
  return undefined;
}

function describeBad(value: string): string {
  const c = [...value].find((ch) => !VM_VALUE_RE.test(ch)) ?? '';
  const code = c.codePointAt(0) ?? 0;
  if (c === ' ') return 'a space';
  if (c === '"' || c === "'") return `a quote (${c})`;
  if (c === '\\') return 'a backslash';
  if (code < 0x20 || code === 0x7f) return `a control character (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
  return `a character outside printable ASCII (${JSON.stringify(c)})`;
}

/** The first problem with a whole set of vars under `rules`, or undefined when all are fine. */
export function configProblem(
  config: Record<string, string>, rules: ConfigRules, opts: { names?: boolean } = {},
): { name?: string; message: string } | undefined {
  let total = 0;
  for (const [name, value] of Object.entries(config)) {
    const n = opts.names === false ? undefined : configNameProblem(name);
    if (n) return { name, message: `config var ${JSON.stringify(name)} is not allowed: ${n}` };
    if (typeof value !== 'string') return { name, message: `config var ${name} must be a string` };
    const v = configValueProblem(name, value, rules);
    if (v) return { name, message: v };
    total += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
  }
  const { total: max } = CONFIG_LIMITS[rules];
  if (total > max) {
    return { message: `the config vars come to ${total} bytes; ${rules === 'vm' ? 'on VM targets' : 'for process targets'} they are at most ${max} bytes together` };
  }
  return undefined;
}

/**
 * Checks a config:set: each name and value being set, then the whole resulting set under
 * the app's target (`target` undefined: the app has no release yet). A name stored before
 * these rules (lower-case, say) is refused in the resulting set only on VM targets, where
 * the runtime would refuse to start with it; a process gets it as before, and config:unset
 * removes it on any target.
 */
export function checkConfigChange(
  set: Record<string, string>, resulting: Record<string, string>, target: Target | null | undefined,
): void {
  const rules = rulesFor(target);
  const where = target ? `target ${target}` : 'no release yet, so the VM rules (the stricter) apply';
  for (const [name, value] of Object.entries(set)) {
    checkConfigName(name);
    const v = configValueProblem(name, value, rules);
    if (v) throw new InvalidInputError(`${v} (${where})`, { key: name, rule: rules });
  }
  const p = configProblem(resulting, rules, { names: rules === 'vm' });
  if (p) {
    const hint = p.name && !(p.name in set) ? `; remove it with \`summon config:unset ${p.name}\`` : '';
    throw new InvalidInputError(`${p.message} (${where})${hint}`, { ...(p.name ? { key: p.name } : {}), rule: rules });
  }
}

/** The runtimes' defensive check just before start: refuses rather than pass a bad var on. */
export function assertConfigForRuntime(config: Record<string, string>, rules: ConfigRules, runtime: string): void {
  const p = configProblem(config, rules);
  if (p) {
    throw new InvalidInputError(
      `${runtime} will not start this instance: ${p.message}${p.name ? `; fix it with \`summon config:unset ${p.name}\` (or config:set a value that meets the rule)` : ''}`,
      { ...(p.name ? { key: p.name } : {}), rule: rules },
    );
  }
}
