import { InvalidNameError } from './errors.js';

/** A DNS label (apps are served at NAME.domain): a letter first, a letter or digit last. */
export const APP_NAME_RE = /^[a-z](?:[a-z0-9-]{0,28}[a-z0-9])?$/;
export const APP_NAME_RULE =
  'names are 1 to 30 lower-case letters, digits or "-", starting with a letter and ending with a letter or digit (^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$)';

function checkName(what: string, name: unknown): string {
  // JSON.stringify, not String: ["hello"] must not read as "hello" in the refusal.
  if (typeof name !== 'string') throw new InvalidNameError(what, JSON.stringify(name) ?? String(name), `${what} must be a string; ${APP_NAME_RULE}`);
  if (!APP_NAME_RE.test(name)) throw new InvalidNameError(what, name, APP_NAME_RULE);
  return name;
}

export function checkAppName(name: unknown): string {
  return checkName('app name', name);
}

/** Host ids name agents in `--agent ID=URL`, event data and instance rows. */
export function checkHostId(id: unknown): string {
  return checkName('host id', id);
}

export const CONFIG_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function checkConfigKey(key: string): string {
  if (!CONFIG_KEY_RE.test(key)) {
    throw new InvalidNameError('config var', key, 'keys are letters, digits and "_", not starting with a digit');
  }
  return key;
}
