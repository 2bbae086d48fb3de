'use strict';
// Mocha runs the TypeScript tests through tsx. CI forbids .only and checks for leaked globals.
module.exports = {
  'node-option': ['import=tsx'],
  extension: ['ts'],
  timeout: 30000,
  slow: 2000,
  forbidOnly: Boolean(process.env.CI),
  checkLeaks: true,
  exit: false,
  reporter: 'spec',
};
