// The embedded stack (authz, rating API and both dev edges as local processes) is not built yet.
process.stderr.write('npm start: the embedded stack is not built yet; see README "Status". Meanwhile: npm run pki -- init, npm test.\n');
process.exitCode = 1;
