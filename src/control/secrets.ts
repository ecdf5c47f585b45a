// Config vars are stored encrypted (AES-256-GCM). The key lives outside the database: in
// SUMMON_MASTER_KEY (64 hex chars) or a 0600 file in the data directory, so a copy of the
// database alone does not reveal them.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class Secrets {
  private constructor(private readonly key: Buffer) {}

  static async open(dataDir: string, envKey = process.env.SUMMON_MASTER_KEY): Promise<Secrets> {
    if (envKey) {
      if (!/^[0-9a-f]{64}$/i.test(envKey)) throw new Error('SUMMON_MASTER_KEY must be 64 hex characters (32 bytes)');
      return new Secrets(Buffer.from(envKey, 'hex'));
    }
    const file = join(dataDir, 'master.key');
    try {
      return new Secrets(Buffer.from((await readFile(file, 'utf8')).trim(), 'hex'));
    } catch {
      const key = randomBytes(32);
      await writeFile(file, key.toString('hex'), { mode: 0o600, flag: 'wx' }).catch(async () => undefined);
      return new Secrets(Buffer.from((await readFile(file, 'utf8')).trim(), 'hex'));
    }
  }

  /** A secret derived from the master key for `label` (HMAC-SHA256, hex): the same on every
   *  node that has the same key (the control-plane nodes' agent credentials, the key check). */
  derive(label: string): string {
    return createHmac('sha256', this.key).update(`summon derived secret v1\0${label}`).digest('hex');
  }

  encrypt(vars: Record<string, string>): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(JSON.stringify(vars), 'utf8'), c.final()]);
    return `v1:${iv.toString('base64')}:${c.getAuthTag().toString('base64')}:${body.toString('base64')}`;
  }

  decrypt(cipher: string | null): Record<string, string> {
    if (!cipher) return {};
    const [v, iv, tag, body] = cipher.split(':');
    if (v !== 'v1') throw new Error('unknown config encryption format');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    const text = Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]).toString('utf8');
    return JSON.parse(text) as Record<string, string>;
  }
}
