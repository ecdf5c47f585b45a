// `summon up --drains-allow-private` and `--drain-ca FILE` as DrainSettings, checked before
// anything starts: a CA file that cannot be read or holds no certificate is refused by name.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidInputError } from '../core/errors.js';
import type { DrainSettings } from './drain-manager.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads a PEM bundle: every certificate in it must parse; at least one must be there. */
export function readDrainCa(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidInputError(`--drain-ca ${file} cannot be read: ${(e as Error).message}`);
  }
  const certs = text.match(PEM_CERT) ?? [];
  if (!certs.length) throw new InvalidInputError(`--drain-ca ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA certificate that signed your receivers' certificates`);
  for (const [i, pem] of certs.entries()) {
    try {
      new X509Certificate(pem);
    } catch (e) {
      throw new InvalidInputError(`--drain-ca ${file}: certificate ${i + 1} does not parse: ${(e as Error).message}`);
    }
  }
  return certs.join('\n');
}

export function drainFlags(o: { drainsAllowPrivate?: unknown; drainCa?: unknown }): { drains?: DrainSettings } {
  const s: DrainSettings = {
    ...(o.drainsAllowPrivate ? { allowPrivate: true } : {}),
    ...(o.drainCa ? { ca: readDrainCa(String(o.drainCa)) } : {}),
  };
  return Object.keys(s).length ? { drains: s } : {};
}
