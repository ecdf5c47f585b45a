// The pre-receive hook of every app repository (installed by RepoManager as a small sh
// script that execs `node dist/src/git/hook.js`). git runs it after receiving the pack
// and before updating any ref; exiting non-zero refuses the push and leaves the ref alone.
// It hands the push to the Summon API and relays the build output, which git shows to
// the pusher as "remote: …" lines while the build runs.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PUSH_STREAM_CONTENT_TYPE, PushStreamParser, QUARANTINE_VARS, type PushRequest } from './push-stream.js';

const ZERO_RE = /^0+$/;
const ALLOWED_REFS = ['refs/heads/main', 'refs/heads/master'];

interface RefUpdate {
  oldRev: string;
  newRev: string;
  ref: string;
}

/** Parses pre-receive stdin; returns the one update to build, or the reason to refuse. */
export function checkRefUpdates(input: string): { update: RefUpdate } | { refuse: string } {
  const updates: RefUpdate[] = [];
  for (const line of input.split('\n')) {
    if (line.trim() === '') continue;
    const [oldRev, newRev, ref] = line.trim().split(/\s+/);
    if (!oldRev || !newRev || !ref) return { refuse: `unexpected hook input: ${JSON.stringify(line)}` };
    updates.push({ oldRev, newRev, ref });
  }
  if (updates.length === 0) return { refuse: 'nothing to deploy: the push updates no ref' };
  for (const u of updates) {
    if (!ALLOWED_REFS.includes(u.ref)) {
      return {
        refuse:
          `Summon deploys only the main (or master) branch; refusing to update ${u.ref}.\n` +
          `Push your branch to main instead: git push summon ${shortRef(u.ref)}:main`,
      };
    }
    if (ZERO_RE.test(u.newRev)) {
      return { refuse: `deleting ${u.ref} is not allowed: it is the branch Summon deploys from` };
    }
  }
  if (updates.length > 1) {
    return { refuse: 'push main or master, not both: Summon builds one branch per push' };
  }
  return { update: updates[0] };
}

function shortRef(ref: string): string {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : ref;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function say(line: string): void {
  process.stdout.write(line + '\n');
}

async function main(): Promise<number> {
  const url = process.env.SUMMON_HOOK_URL;
  const token = process.env.SUMMON_HOOK_TOKEN ?? '';
  const app = process.env.SUMMON_APP;
  if (!url || !app) {
    say('Summon: this repository is not set up for pushes (SUMMON_HOOK_URL or SUMMON_APP missing); refusing.');
    return 1;
  }
  const checked = checkRefUpdates(await readStdin());
  if ('refuse' in checked) {
    say(checked.refuse);
    return 1;
  }
  const gitEnv: Record<string, string> = {};
  for (const k of QUARANTINE_VARS) {
    const v = process.env[k];
    // Relative paths are relative to the repository, which is our working directory.
    if (v) gitEnv[k] = k === 'GIT_ALTERNATE_OBJECT_DIRECTORIES' ? v.split(':').map((p) => resolve(p)).join(':') : resolve(v);
  }
  const body: PushRequest = { app, ...checked.update, gitDir: resolve(process.cwd()), gitEnv };
  return await postAndRelay(url, token, body);
}

function postAndRelay(url: string, token: string, body: PushRequest): Promise<number> {
  return new Promise((done) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      say(`Summon: SUMMON_HOOK_URL is not a URL (${url}); refusing the push.`);
      return done(1);
    }
    const payload = Buffer.from(JSON.stringify(body));
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': payload.length,
        accept: PUSH_STREAM_CONTENT_TYPE,
        authorization: `Bearer ${token}`,
      },
    });
    req.on('error', (e) => {
      say(`Summon: could not reach the Summon API at ${target.origin} (${(e as Error).message}); the push was refused.`);
      done(1);
    });
    req.on('response', (res: IncomingMessage) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let text = '';
        res.on('data', (c: string) => {
          if (text.length < 4096) text += c;
        });
        res.on('end', () => {
          say(`Summon: the API refused the push (HTTP ${res.statusCode}): ${describeError(text)}`);
          done(1);
        });
        res.on('error', () => done(1));
        return;
      }
      const parser = new PushStreamParser();
      let result: { ok: boolean; message?: string } | null = null;
      res.on('data', (c: string) => {
        for (const f of parser.push(c)) {
          if ('done' in f) result = f;
          else say(f.line);
        }
      });
      const finish = () => {
        if (!result) {
          say('Summon: the connection to the API closed before the build finished; the push was refused.');
          return done(1);
        }
        if (result.message) say(result.message);
        done(result.ok ? 0 : 1);
      };
      res.on('end', finish);
      res.on('error', () => finish());
    });
    req.end(payload);
  });
}

function describeError(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string }; message?: string };
    return j.error?.message ?? j.message ?? text.trim();
  } catch {
    return text.trim() || '(no body)';
  }
}

// Run only as the hook entry, so tests can import checkRefUpdates.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      say(`Summon: the pre-receive hook failed: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
