import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCKERFILE = join(ROOT, 'compose/Dockerfile');

interface Stage {
  name: string | null;
  image: string;
  tag: string | null;
  digest: string | null;
  /** Zero-based line range of the stage's instructions. */
  from: number;
  to: number;
}

function stagesOf(df: Dockerfile): Stage[] {
  const froms = df.getFROMs();
  return froms.map((f, i) => ({
    name: f.getBuildStage(),
    image: f.getImageName() ?? '',
    tag: f.getImageTag(),
    digest: f.getImageDigest(),
    from: f.getRange().start.line,
    to: froms[i + 1]?.getRange().start.line ?? Number.MAX_SAFE_INTEGER,
  }));
}

/** .dockerignore as regular expressions over context-relative paths (the subset of syntax the file uses). */
function dockerignore(): RegExp[] {
  return readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'))
    .map((p) => {
      const body = p
        .replace(/\/+$/, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .split('**/')
        .map((part) => part.replace(/\*/g, '[^/]*'))
        .join('(?:.*/)?');
      return new RegExp(`^${body}(?:/.*)?$`);
    });
}

/** Every COPY instruction as its flags' --from value and its sources (all arguments but the last). */
function copies(df: Dockerfile): { line: number; from: string | null; sources: string[] }[] {
  return df.getCOPYs().map((c) => {
    const args = c.getArguments().map((a) => a.getValue());
    return { line: c.getRange().start.line, from: c.getFromFlag()?.getValue() ?? null, sources: args.slice(0, -1) };
  });
}

describe('compose/Dockerfile', () => {
  const df = DockerfileParser.parse(readFileSync(DOCKERFILE, 'utf8'));
  const stages = stagesOf(df);

  it('is a multi-stage build with an OPA stage, a Node build stage and a separate runtime stage', () => {
    assert.ok(stages.length >= 3, 'at least three stages');
    assert.ok(stages.some((s) => s.image === 'openpolicyagent/opa'), 'an OPA stage compiles the policy');
    const final = stages[stages.length - 1];
    assert.ok(final);
    assert.equal(final.image, 'node');
    assert.ok(stages.slice(0, -1).some((s) => s.image === 'node'), 'dist/ is built in a stage before the runtime');
  });

  it('pins every base image to an exact version, OPA to the one in .opa-version', () => {
    const stageNames = new Set(stages.map((s) => s.name).filter((n): n is string => n !== null));
    for (const s of stages) {
      if (stageNames.has(s.image)) continue;
      assert.ok(s.tag ?? s.digest, `${s.image} has a tag or digest`);
      if (s.tag) {
        assert.notEqual(s.tag, 'latest', `${s.image} is not pinned`);
        assert.match(s.tag, /^v?\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/, `${s.image}:${s.tag} is an exact version`);
      }
    }
    const opaVersion = readFileSync(join(ROOT, '.opa-version'), 'utf8').trim().replace(/^v/, '');
    for (const s of stages.filter((x) => x.image === 'openpolicyagent/opa')) assert.equal(s.tag, opaVersion, 'the OPA image matches .opa-version');
    for (const s of stages.filter((x) => x.image === 'node')) assert.match(s.tag ?? '', /^20\.\d+\.\d+-bookworm-slim$/, 'Node 20 on bookworm-slim');
  });

  it('copies only sources that exist in the repository and are not excluded from the build context', () => {
    const ignored = dockerignore();
    const list = copies(df).filter((c) => c.from === null);
    assert.ok(list.length > 0);
    for (const c of list) {
      for (const src of c.sources) {
        const rel = src.replace(/^\.\//, '').replace(/\/$/, '');
        assert.ok(existsSync(join(ROOT, rel)), `COPY ${src} (line ${c.line + 1}) exists in the repository`);
        assert.ok(!ignored.some((re) => re.test(rel)), `COPY ${src} (line ${c.line + 1}) is not excluded by .dockerignore`);
      }
    }
  });

  it('copies --from only earlier, named stages', () => {
    const list = copies(df).filter((c) => c.from !== null);
    assert.ok(list.length > 0);
    for (const c of list) {
      const stage = stages.find((s) => s.name === c.from);
      assert.ok(stage, `COPY --from=${c.from} (line ${c.line + 1}) names a defined stage`);
      assert.ok(stage.to <= c.line, `COPY --from=${c.from} (line ${c.line + 1}) names an earlier stage`);
    }
  });

  it('runs the final stage as a non-root user', () => {
    const final = stages[stages.length - 1];
    assert.ok(final);
    const users = df
      .getInstructions()
      .filter((i) => i.getKeyword() === 'USER' && i.getRange().start.line > final.from)
      .map((i) => (i.getArgumentsContent() ?? '').trim());
    const user = users[users.length - 1];
    assert.ok(user, 'the final stage sets USER');
    assert.ok(!/^(root|0)(:.*)?$/.test(user), `USER ${user} is not root`);
  });

  it('keeps key material and build outputs out of the build context', () => {
    const ignored = dockerignore();
    for (const path of ['pki/out/ca/root.key', 'pki/out/authz/v1/key.pem', 'node_modules/zod/package.json', 'dist/authz/main.js', 'policies/build/policy.wasm', '.git/config']) {
      assert.ok(ignored.some((re) => re.test(path)), `${path} is excluded by .dockerignore`);
    }
  });
});
