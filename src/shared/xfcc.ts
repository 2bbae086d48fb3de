/**
 * Envoy's `x-forwarded-client-cert` (XFCC) header: a parser and the formatter of the element that
 * Envoy's SANITIZE_SET emits. The edge sets the last element; the policy service trusts it only
 * because the peer that sent it is an authenticated edge.
 *
 * Grammar (Envoy docs, "x-forwarded-client-cert"): elements are separated by `,`; an element is
 * `;`-separated `Key=Value` pairs; keys are case-insensitive; a value that holds `,`, `;` or `=`
 * is double-quoted, with `\"` for a quote inside it.
 */

/** One XFCC element: the certificate details one proxy added. */
export interface XfccElement {
  /** The URI SAN of the proxy's own certificate. */
  readonly by?: string;
  /** SHA-256 of the client certificate's DER, lowercase hex. */
  readonly hash?: string;
  /** The URL-encoded PEM of the client certificate, as sent. */
  readonly cert?: string;
  /** The URL-encoded PEM chain of the client certificate, as sent. */
  readonly chain?: string;
  /** The client certificate's subject; `""` when Envoy had none. */
  readonly subject?: string;
  /** Every `URI=` of the element in order (Envoy emits one per URI SAN, or an empty `URI=`). */
  readonly uri: readonly string[];
  /** Every `DNS=` of the element in order. */
  readonly dns: readonly string[];
}

/** Why an XFCC header was refused; stable so that callers and logs can key on it. */
export type XfccErrorCode =
  | 'empty_element'
  | 'missing_equals'
  | 'bad_key'
  | 'unknown_key'
  | 'duplicate_key'
  | 'unterminated_quote'
  | 'unexpected_quote';

/** A malformed XFCC header. `offset` is the character index where parsing stopped. */
export class XfccParseError extends Error {
  readonly code: XfccErrorCode;
  readonly offset: number;
  constructor(code: XfccErrorCode, offset: number) {
    super(`malformed x-forwarded-client-cert: ${code} at ${offset}`);
    this.name = 'XfccParseError';
    this.code = code;
    this.offset = offset;
  }
}

type SingleKey = 'by' | 'hash' | 'cert' | 'chain' | 'subject';
type Key = SingleKey | 'uri' | 'dns';

const KEYS: ReadonlyMap<string, Key> = new Map<string, Key>([
  ['by', 'by'],
  ['hash', 'hash'],
  ['cert', 'cert'],
  ['chain', 'chain'],
  ['subject', 'subject'],
  ['uri', 'uri'],
  ['dns', 'dns'],
]);

const COMMA = 0x2c;
const SEMI = 0x3b;
const EQ = 0x3d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const TAB = 0x09;

function isOws(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** RFC 9110 tchar: what a key may be made of. */
function isTchar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c > 0x20 && c < 0x7f && "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)))
  );
}

interface MutableElement {
  by?: string;
  hash?: string;
  cert?: string;
  chain?: string;
  subject?: string;
  uri: string[];
  dns: string[];
}

/**
 * Parses a whole XFCC header into its elements, in order (the last one is the nearest proxy's).
 * Optional whitespace around the `,` between elements is allowed because intermediaries that join
 * repeated headers insert it. Unknown keys, a repeated single-valued key, an empty element, a pair
 * without `=` and an unterminated quote all throw {@link XfccParseError}: a garbled identity header
 * is no identity.
 */
export function parseXfcc(header: string): XfccElement[] {
  const elements: XfccElement[] = [];
  const n = header.length;
  let i = 0;
  for (;;) {
    while (i < n && isOws(header.charCodeAt(i))) i++;
    const el: MutableElement = { uri: [], dns: [] };
    let pairs = 0;
    for (;;) {
      const keyStart = i;
      while (i < n && isTchar(header.charCodeAt(i))) i++;
      const keyEnd = i;
      if (i >= n || header.charCodeAt(i) !== EQ) {
        const c = i < n ? header.charCodeAt(i) : -1;
        if (keyStart === keyEnd && pairs === 0 && (c === -1 || c === COMMA)) {
          throw new XfccParseError('empty_element', i);
        }
        if (c === -1 || c === COMMA || c === SEMI) throw new XfccParseError('missing_equals', i);
        throw new XfccParseError('bad_key', i);
      }
      if (keyStart === keyEnd) throw new XfccParseError('bad_key', i);
      const key = KEYS.get(header.slice(keyStart, keyEnd).toLowerCase());
      if (key === undefined) throw new XfccParseError('unknown_key', keyStart);
      i++; // '='
      let value: string;
      if (i < n && header.charCodeAt(i) === QUOTE) {
        const r = readQuoted(header, i + 1);
        value = r.value;
        i = r.end;
      } else {
        const start = i;
        while (i < n) {
          const c = header.charCodeAt(i);
          if (c === COMMA || c === SEMI) break;
          if (c === QUOTE) throw new XfccParseError('unexpected_quote', i);
          i++;
        }
        value = header.slice(start, i);
      }
      if (key === 'uri') el.uri.push(value);
      else if (key === 'dns') el.dns.push(value);
      else if (el[key] !== undefined) throw new XfccParseError('duplicate_key', keyStart);
      else el[key] = value;
      pairs++;
      if (i >= n || header.charCodeAt(i) === COMMA) break;
      if (header.charCodeAt(i) !== SEMI) throw new XfccParseError('unexpected_quote', i);
      i++; // ';'
    }
    elements.push(el);
    if (i >= n) return elements;
    i++; // ','
    if (i >= n) throw new XfccParseError('empty_element', i);
  }
}

/**
 * Reads a quoted value starting just after its opening quote; returns the unescaped value and the
 * index after the closing quote, allowing whitespace before the next separator. `\"` and `\\` are
 * escapes; any other backslash is kept as is, so that an RFC 2253 subject such as `CN=Doe\, John`,
 * which Envoy copies verbatim, survives.
 */
function readQuoted(header: string, from: number): { value: string; end: number } {
  const n = header.length;
  let out = '';
  let runStart = from;
  let i = from;
  while (i < n) {
    const c = header.charCodeAt(i);
    if (c === QUOTE) {
      out += header.slice(runStart, i);
      let end = i + 1;
      while (end < n && isOws(header.charCodeAt(end))) end++;
      if (end < n) {
        const next = header.charCodeAt(end);
        if (next !== COMMA && next !== SEMI) throw new XfccParseError('unexpected_quote', end);
      }
      return { value: out, end };
    }
    if (c === BACKSLASH && i + 1 < n) {
      const next = header.charCodeAt(i + 1);
      if (next === QUOTE || next === BACKSLASH) {
        out += header.slice(runStart, i) + String.fromCharCode(next);
        i += 2;
        runStart = i;
        continue;
      }
    }
    i++;
  }
  throw new XfccParseError('unterminated_quote', from - 1);
}

/** What the edge knows about a client connection, for its XFCC element. */
export interface XfccElementInput {
  /** The edge's own URI SAN. */
  readonly by: string;
  /** SHA-256 of the client certificate's DER, lowercase hex. */
  readonly hash: string;
  /** The client certificate's subject (RFC 2253 string, as Envoy prints it); may be empty. */
  readonly subject: string;
  /** The client's URI SANs; Envoy emits `URI=` once per SAN, or an empty `URI=` when there is none. */
  readonly uri: string | readonly string[];
  /** The client's DNS SANs, emitted only when `set_current_client_cert_details.dns` is on. */
  readonly dns?: readonly string[];
  /** The client certificate in PEM, emitted URL-encoded as `Cert` when `set_current_client_cert_details.cert` is on. */
  readonly cert?: string;
}

/**
 * The element Envoy's SANITIZE_SET emits with `set_current_client_cert_details {subject, uri, cert}`,
 * in Envoy's order: `By=...;Hash=...;Cert="...";Subject="...";URI=...` then `DNS=...`. Cert (the
 * URL-encoded PEM) and Subject are always quoted, as Envoy does; the other values are bare, as Envoy
 * emits them, unless they hold a character that would break the grammar, where Envoy would emit an
 * unparseable header and this quotes instead.
 */
export function formatXfccElement(input: XfccElementInput): string {
  let out = `By=${bare(input.by)};Hash=${bare(input.hash)}`;
  if (input.cert !== undefined) out += `;Cert=${quoted(encodeURIComponent(input.cert))}`;
  out += `;Subject=${quoted(input.subject)}`;
  const uris = typeof input.uri === 'string' ? [input.uri] : input.uri;
  if (uris.length === 0) out += ';URI=';
  for (const u of uris) out += `;URI=${bare(u)}`;
  for (const d of input.dns ?? []) out += `;DNS=${bare(d)}`;
  return out;
}

const NEEDS_QUOTES = /[,;="]/;

function bare(value: string): string {
  return NEEDS_QUOTES.test(value) ? quoted(value) : value;
}

/**
 * Quotes with the fewest escapes that still round-trip through {@link parseXfcc}: `"` always, a
 * backslash only where the parser would read it as an escape (before `"` or `\`, or at the end).
 * A typical subject thus comes out byte for byte as Envoy writes it.
 */
function quoted(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"') out += '\\"';
    else if (ch === '\\') {
      const next = value[i + 1];
      out += next === undefined || next === '"' || next === '\\' ? '\\\\' : '\\';
    } else out += ch;
  }
  return out + '"';
}
