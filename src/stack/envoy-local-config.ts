/**
 * The shipped Envoy config made runnable by an ordinary user on one host, for
 * `npm start -- --edge envoy`. The shipped files are written for a compose container: they listen on
 * 0.0.0.0:8443, name their upstreams by compose host name and read the SDS files and the edge's PKI
 * at the container's mount points. Two edges on one host need two ports, and a user without root has
 * no mount namespace to reproduce /etc/envoy, so this makes a copy in which exactly those things
 * change: the listener address and port, the admin port, the upstream endpoints and the file paths.
 * Everything else (TLS, SAN matchers, ext_authz, filters, timeouts, comments) is carried over as
 * parsed, so the copy cannot drift from the file compose runs.
 *
 * The edits are structural (by YAML path, each checked against the value the shipped file is known
 * to hold there) so a change to the shipped files that this copy would no longer describe fails
 * loudly, naming the field, instead of producing a config that points somewhere unexpected.
 */
import { join, posix } from 'node:path';
import { parseDocument, type Document } from 'yaml';
import { ConfigError } from '../shared/errors.js';

/** The directory compose mounts envoy/sds/ at; envoy.yaml names the SDS files under it. */
export const SHIPPED_SDS_DIR = '/etc/envoy/sds';
/** The directory compose mounts the edge's `$ZT_PKI_DIR/edge-<region>/` at; the SDS files read it. */
export const SHIPPED_EDGE_PKI_DIR = '/etc/envoy/pki/edge';
/** Any path under this prefix left in a copy would name a file that exists only in the container. */
const CONTAINER_PREFIX = '/etc/envoy/';

/** An address Envoy listens on or connects to. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The Envoy files: envoy.yaml and the SDS files it names, by base name (`edge-cert.yaml`...). */
export interface EnvoyFiles {
  readonly envoyYaml: string;
  readonly sds: Readonly<Record<string, string>>;
}

/** Where one local edge listens, what it connects to, and where its files are. */
export interface EnvoyLocalTarget {
  /** Replaces the listener's 0.0.0.0:8443. */
  readonly listen: HostPort;
  /** Replaces the admin port 9901; the admin address (loopback) is kept. */
  readonly adminPort: number;
  /** The endpoint of each cluster, by cluster name (`authz`, `rating_api`). */
  readonly upstreams: Readonly<Record<string, HostPort>>;
  /** Absolute: where the SDS copies are written (replaces /etc/envoy/sds). */
  readonly sdsDir: string;
  /** Absolute: the edge's `$ZT_PKI_DIR/edge-<region>` (replaces /etc/envoy/pki/edge). */
  readonly edgePkiDir: string;
}

type YamlPath = readonly (string | number)[];

interface Edit {
  readonly path: YamlPath;
  readonly value: string | number;
}

/**
 * The local copy of `shipped` for `target`: the same files, with only the listener, the admin port,
 * the cluster endpoints and the container paths replaced. Pure: reads and writes nothing. Throws a
 * ConfigError naming the field when the shipped files are not shaped as this copy expects.
 */
export function localEnvoyConfig(shipped: EnvoyFiles, target: EnvoyLocalTarget): EnvoyFiles {
  for (const dir of [target.sdsDir, target.edgePkiDir]) {
    if (!posix.isAbsolute(dir)) throw new ConfigError('envoy_local_config', `the local Envoy copy needs absolute directories, got "${dir}"`);
  }
  const envoy = load('envoy.yaml', shipped.envoyYaml);
  const envoyEdits = [...listenerEdits(envoy.js, target), ...adminEdits(envoy.js, target), ...clusterEdits(envoy.js, target), ...sdsSourceEdits(envoy.js, shipped, target)];
  const sds: Record<string, string> = {};
  for (const [file, text] of Object.entries(shipped.sds)) {
    const doc = load(`sds/${file}`, text);
    sds[file] = render(`sds/${file}`, doc, pkiPathEdits(`sds/${file}`, doc.js, target));
  }
  return { envoyYaml: render('envoy.yaml', envoy, envoyEdits), sds };
}

interface Loaded {
  readonly doc: Document;
  /** The plain view the edits are computed from. */
  readonly js: unknown;
}

function load(file: string, text: string): Loaded {
  const doc = parseDocument(text);
  const error = doc.errors[0];
  if (error !== undefined) throw new ConfigError('envoy_local_config', `envoy/${file} is not valid YAML: ${error.message}`);
  return { doc, js: doc.toJS() as unknown };
}

function render(file: string, loaded: Loaded, edits: readonly Edit[]): string {
  const { doc } = loaded;
  for (const e of edits) doc.setIn(e.path, e.value);
  const left = containerPaths(doc.toJS() as unknown, []);
  if (left[0] !== undefined) throw new ConfigError('envoy_local_config', `envoy/${file}: ${show(left[0])} still names a container path; the local copy knows only ${SHIPPED_SDS_DIR} and ${SHIPPED_EDGE_PKI_DIR}`);
  const header = ` Generated from envoy/${file} by src/stack/envoy-local-config.ts for \`npm start -- --edge envoy\`; do not edit.\n Only addresses, ports and the /etc/envoy paths differ from the shipped file.`;
  doc.commentBefore = doc.commentBefore ? `${header}\n\n${doc.commentBefore}` : header;
  // lineWidth 0: never fold a long scalar (a regex, a path) into a multi-line one.
  return doc.toString({ lineWidth: 0 });
}

/** The one listener: its address and port. */
function listenerEdits(js: unknown, t: EnvoyLocalTarget): Edit[] {
  const listeners = at(js, ['static_resources', 'listeners']);
  if (!Array.isArray(listeners) || listeners.length !== 1) {
    throw new ConfigError('envoy_local_config', `envoy/envoy.yaml: static_resources.listeners must hold exactly one listener for the local copy (one port per edge), found ${Array.isArray(listeners) ? listeners.length : 'none'}`);
  }
  const socket = ['static_resources', 'listeners', 0, 'address', 'socket_address'];
  expect('envoy.yaml', js, [...socket, 'address'], '0.0.0.0');
  expect('envoy.yaml', js, [...socket, 'port_value'], 8443);
  return [
    { path: [...socket, 'address'], value: t.listen.host },
    { path: [...socket, 'port_value'], value: t.listen.port },
  ];
}

function adminEdits(js: unknown, t: EnvoyLocalTarget): Edit[] {
  const socket = ['admin', 'address', 'socket_address'];
  // Loopback stays: the admin API can drain listeners, so the copy must not widen it.
  expect('envoy.yaml', js, [...socket, 'address'], '127.0.0.1');
  expect('envoy.yaml', js, [...socket, 'port_value'], 9901);
  return [{ path: [...socket, 'port_value'], value: t.adminPort }];
}

/** Every endpoint of every cluster, to the target's address for that cluster. */
function clusterEdits(js: unknown, t: EnvoyLocalTarget): Edit[] {
  const clusters = at(js, ['static_resources', 'clusters']);
  if (!Array.isArray(clusters)) throw new ConfigError('envoy_local_config', 'envoy/envoy.yaml: static_resources.clusters is missing');
  const edits: Edit[] = [];
  clusters.forEach((cluster: unknown, i) => {
    const name = at(cluster, ['name']);
    const upstream = typeof name === 'string' ? t.upstreams[name] : undefined;
    if (upstream === undefined) {
      throw new ConfigError('envoy_local_config', `envoy/envoy.yaml: cluster "${String(name)}" has no local address (the local copy knows ${Object.keys(t.upstreams).join(', ')})`);
    }
    const endpoints = at(cluster, ['load_assignment', 'endpoints']);
    if (!Array.isArray(endpoints) || endpoints.length === 0) throw new ConfigError('envoy_local_config', `envoy/envoy.yaml: cluster "${name as string}" has no load_assignment.endpoints`);
    endpoints.forEach((locality: unknown, j) => {
      const lbs = at(locality, ['lb_endpoints']);
      if (!Array.isArray(lbs)) throw new ConfigError('envoy_local_config', `envoy/envoy.yaml: cluster "${name as string}" endpoints[${j}] has no lb_endpoints`);
      lbs.forEach((_lb: unknown, k) => {
        const socket = ['static_resources', 'clusters', i, 'load_assignment', 'endpoints', j, 'lb_endpoints', k, 'endpoint', 'address', 'socket_address'];
        if (typeof at(js, [...socket, 'address']) !== 'string') throw new ConfigError('envoy_local_config', `envoy/envoy.yaml: ${show(socket)}.address is not a host name`);
        edits.push({ path: [...socket, 'address'], value: upstream.host }, { path: [...socket, 'port_value'], value: upstream.port });
      });
    });
  });
  return edits;
}

/** Every SDS `path_config_source` (and its watched directory), to the copy's own SDS directory. */
function sdsSourceEdits(js: unknown, shipped: EnvoyFiles, t: EnvoyLocalTarget): Edit[] {
  const edits: Edit[] = [];
  for (const path of keyPaths(js, 'path_config_source')) {
    const file = at(js, [...path, 'path']);
    const name = typeof file === 'string' && posix.dirname(file) === SHIPPED_SDS_DIR ? posix.basename(file) : undefined;
    if (name === undefined || shipped.sds[name] === undefined) {
      throw new ConfigError('envoy_local_config', `envoy/envoy.yaml: ${show([...path, 'path'])} is "${String(file)}", not one of the SDS files in ${SHIPPED_SDS_DIR} (${Object.keys(shipped.sds).join(', ')})`);
    }
    edits.push({ path: [...path, 'path'], value: join(t.sdsDir, name) });
    const watched = [...path, 'watched_directory', 'path'];
    if (at(js, watched) !== undefined) {
      expect('envoy.yaml', js, watched, SHIPPED_SDS_DIR);
      edits.push({ path: watched, value: t.sdsDir });
    }
  }
  return edits;
}

/** Every `filename` and `watched_directory.path` under the edge PKI mount, to the edge's PKI directory. */
function pkiPathEdits(file: string, js: unknown, t: EnvoyLocalTarget): Edit[] {
  const edits: Edit[] = [];
  const rebase = (path: YamlPath): void => {
    const value = at(js, path);
    if (typeof value !== 'string') return;
    if (value === SHIPPED_EDGE_PKI_DIR) edits.push({ path, value: t.edgePkiDir });
    else if (value.startsWith(`${SHIPPED_EDGE_PKI_DIR}/`)) edits.push({ path, value: join(t.edgePkiDir, value.slice(SHIPPED_EDGE_PKI_DIR.length + 1)) });
    else throw new ConfigError('envoy_local_config', `envoy/${file}: ${show(path)} is "${value}", outside ${SHIPPED_EDGE_PKI_DIR}`);
  };
  for (const path of keyPaths(js, 'filename')) rebase(path);
  for (const path of keyPaths(js, 'watched_directory')) rebase([...path, 'path']);
  return edits;
}

/** The value at `path`, or undefined when any step is missing. */
function at(node: unknown, path: YamlPath): unknown {
  let here = node;
  for (const step of path) {
    if (typeof step === 'number' ? !Array.isArray(here) : typeof here !== 'object' || here === null || Array.isArray(here)) return undefined;
    here = (here as Record<string | number, unknown>)[step];
  }
  return here;
}

function expect(file: string, js: unknown, path: YamlPath, shipped: string | number): void {
  const value = at(js, path);
  if (value !== shipped) {
    throw new ConfigError('envoy_local_config', `envoy/${file}: ${show(path)} is ${JSON.stringify(value)}, but the local copy replaces the compose value ${JSON.stringify(shipped)}; update src/stack/envoy-local-config.ts with the shipped file`);
  }
}

/** The paths of every value held under `key`, anywhere in the tree. */
function keyPaths(node: unknown, key: string, path: YamlPath = []): YamlPath[] {
  if (Array.isArray(node)) return node.flatMap((item: unknown, i) => keyPaths(item, key, [...path, i]));
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => (k === key ? [[...path, k]] : keyPaths(v, key, [...path, k])));
}

/** The paths of every string that still names a file under /etc/envoy/. */
function containerPaths(node: unknown, path: YamlPath): YamlPath[] {
  if (typeof node === 'string') return node === CONTAINER_PREFIX.slice(0, -1) || node.startsWith(CONTAINER_PREFIX) ? [path] : [];
  if (Array.isArray(node)) return node.flatMap((item: unknown, i) => containerPaths(item, [...path, i]));
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => containerPaths(v, [...path, k]));
}

/** `a.b[0].c`, for messages. */
function show(path: YamlPath): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}
