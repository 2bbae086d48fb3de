'use strict';
// The architecture's boundaries, checked by `npm run check` (depcruise). See docs/architecture.md.
module.exports = {
  forbidden: [
    {
      name: 'shared-is-the-foundation',
      comment: 'src/shared/ is the skeleton every process stands on: it imports no service, no runner and not the PKI authority.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/(?!shared/)' },
    },
    {
      name: 'no-service-imports-another',
      comment: 'authz, the rating API and the edge share code only through src/shared/.',
      severity: 'error',
      from: { path: '^src/(authz|rating|edge)/' },
      to: { path: '^src/(authz|rating|edge|stack|cli)/', pathNot: '^src/$1/' },
    },
    {
      name: 'services-do-not-issue',
      comment: 'src/pki/ is the issuing authority (CA keys, rotation); services read their material through src/shared/pki/.',
      severity: 'error',
      from: { path: '^src/(authz|rating|edge)/' },
      to: { path: '^src/pki/' },
    },
    {
      name: 'src-stands-alone',
      comment: 'Production code never imports tests, benches or scripts.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
