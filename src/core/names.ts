import { InvalidNameError } from './errors.js';

export const APP_NAME_RE = /^[a-z][a-z0-9-]{0,29}$/;
export const APP_NAME_RULE =
  'names start with a lower-case letter, then up to 29 lower-case letters, digits or "-" (^[a-z][a-z0-9-]{0,29}$)';

export function checkAppName(name: unknown): string {
  if (typeof name !== 'string' || !APP_NAME_RE.test(name)) {
    throw new InvalidNameError('app name', String(name), APP_NAME_RULE);
  }
  return name;
}

/** Host ids name agents in `--agent ID=URL`, event data and instance rows. */
export function checkHostId(id: unknown): string {
  if (typeof id !== 'string' || !APP_NAME_RE.test(id)) {
    throw new InvalidNameError('host id', String(id), APP_NAME_RULE);
  }
  return id;
}

export const CONFIG_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function checkConfigKey(key: string): string {
  if (!CONFIG_KEY_RE.test(key)) {
    throw new InvalidNameError('config var', key, 'keys are letters, digits and "_", not starting with a digit');
  }
  return key;
}
