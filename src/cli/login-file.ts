// The CLI's saved login: $XDG_CONFIG_HOME/summon/config.json (or ~/.config/summon/…).
// SUMMON_API and SUMMON_TOKEN override it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Login {
  api: string;
  token: string;
  router?: string;
}

export function loginFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'summon', 'config.json');
}

export async function saveLogin(login: Login, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = loginFile(env);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  return file;
}

export async function loadLogin(env: NodeJS.ProcessEnv = process.env): Promise<Partial<Login>> {
  let saved: Partial<Login> = {};
  try {
    saved = JSON.parse(await readFile(loginFile(env), 'utf8')) as Partial<Login>;
  } catch {
    // Not logged in yet.
  }
  return {
    ...saved,
    ...(env.SUMMON_API ? { api: env.SUMMON_API } : {}),
    ...(env.SUMMON_TOKEN ? { token: env.SUMMON_TOKEN } : {}),
  };
}
