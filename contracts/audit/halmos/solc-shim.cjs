#!/usr/bin/env node
// A native-`solc` command line over the pinned solc-js (tests/e2e/package.json), so forge (and
// halmos through it) compiles with exactly the compiler that builds contracts/build, without
// downloading a solc binary. Implements what forge calls: `--version` and
// `--standard-json` (input on stdin, output on stdout; the other flags forge passes, such as
// --allow-paths / --base-path / --include-path, only matter to imports, which are resolved
// here from the file system relative to the base path).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '../../..');
const solc = require(process.env.INTERMARGIN_SOLC_JS || path.join(root, 'tests/e2e/node_modules/solc'));
const args = process.argv.slice(2);
if (args.includes('--version')) {
  // Same two lines as native solc; forge reads the version from the last one.
  const v = solc.version().replace(/\.Emscripten\.clang$/, '');
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${v}.Linux.g++\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write(`solc-shim: only --version and --standard-json are supported (got ${args.join(' ')})\n`);
  process.exit(2);
}
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : null;
};
const bases = [flag('--base-path') || process.cwd()];
for (let i = 0; i < args.length; i++) if (args[i] === '--include-path' && args[i + 1]) bases.push(args[i + 1]);
const input = fs.readFileSync(0, 'utf8');
const findImports = (p) => {
  for (const b of bases) {
    const f = path.isAbsolute(p) ? p : path.join(b, p);
    if (fs.existsSync(f)) return { contents: fs.readFileSync(f, 'utf8') };
  }
  return { error: `solc-shim: not found: ${p}` };
};
process.stdout.write(solc.compile(input, { import: findImports }));
