/** A SPIFFE ID of this project: `spiffe://<trust domain>/<region>/<kind>/<name>`. */
export interface SpiffeId {
  readonly uri: string;
  readonly trustDomain: string;
  readonly region: string;
  readonly kind: string;
  readonly name: string;
}

const SPIFFE = /^spiffe:\/\/([a-z0-9.-]+)\/([a-z0-9-]+)\/([a-z0-9-]+)\/([a-z0-9-]+)$/;

/** Parses a SPIFFE ID of the project's shape; undefined for anything else. */
export function parseSpiffeId(uri: string): SpiffeId | undefined {
  const m = SPIFFE.exec(uri);
  if (!m) return undefined;
  const [, trustDomain = '', region = '', kind = '', name = ''] = m;
  return { uri, trustDomain, region, kind, name };
}

/**
 * The URI SANs of a `subjectaltname` string as Node prints it (`URI:spiffe://..., DNS:x`). Node
 * quotes a SAN that contains a comma or quote as JSON, which is decoded here.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const out: string[] = [];
  const re = /(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = re.exec(subjectAltName); m; m = re.exec(subjectAltName)) {
    const raw = m[1] ?? '';
    try {
      out.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw);
    } catch {
      // an undecodable SAN is no identity
    }
  }
  return out;
}
