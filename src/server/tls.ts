/**
 * HTTPS for the app, /ws and WHIP/WHEP: a PEM certificate and key from files, or
 * (`--tls-self-signed`) an EC certificate made at start for localhost, 127.0.0.1,
 * this machine's name and the listen address, valid 30 days. Browsers allow the
 * camera only on https or localhost: this is for trying the app across a LAN.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';
import { generate } from 'selfsigned';
import type { ServerConfig } from './config.js';

export interface TlsCredentials {
  cert: string;
  key: string;
  /** SHA-256 fingerprint of a certificate made here (to compare with what the browser shows). */
  fingerprint?: string;
}

export async function tlsCredentials(tls: NonNullable<ServerConfig['tls']>, host: string): Promise<TlsCredentials> {
  if (!('selfSigned' in tls)) return tls;
  const names = new Set(['localhost', os.hostname()]);
  const ips = new Set(['127.0.0.1', '::1']);
  if (isIP(host) && host !== '0.0.0.0' && host !== '::') ips.add(host);
  else if (!isIP(host)) names.add(host);
  const pems = await generate([{ name: 'commonName', value: 'facecast (self-signed)' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 30 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...[...names].map((value) => ({ type: 2 as const, value })), ...[...ips].map((ip) => ({ type: 7 as const, ip }))] },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}
