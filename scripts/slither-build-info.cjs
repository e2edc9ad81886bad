#!/usr/bin/env node
// Writes a Hardhat-style build-info (standard-JSON input and output of the pinned solc-js, with
// ASTs) for contracts/*.sol into OUTDIR, so that slither (crytic-compile's hardhat platform with
// --hardhat-ignore-compile) analyses exactly what scripts/build-contracts.cjs compiles, with the
// same compiler and settings, without downloading a native solc.
// Usage: node scripts/slither-build-info.cjs OUTDIR
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/slither-build-info.cjs OUTDIR');
  process.exit(2);
}
const solc = require(process.env.INTERMARGIN_SOLC_JS || path.join(root, 'tests/e2e/node_modules/solc'));
const srcDir = path.join(root, 'contracts');
fs.mkdirSync(path.join(out, 'contracts'), { recursive: true });
fs.mkdirSync(path.join(out, 'artifacts/build-info'), { recursive: true });
const sources = {};
for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
  const content = fs.readFileSync(path.join(srcDir, f), 'utf8');
  fs.writeFileSync(path.join(out, 'contracts', f), content);
  sources[`contracts/${f}`] = { content };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    // The same optimizer and EVM version as scripts/build-contracts.cjs.
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: {
      '*': {
        '': ['ast'],
        '*': ['abi', 'evm.bytecode', 'evm.deployedBytecode', 'evm.methodIdentifiers', 'metadata', 'userdoc', 'devdoc', 'storageLayout'],
      },
    },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'));
  process.exit(1);
}
const long = solc.version();
fs.writeFileSync(
  path.join(out, 'artifacts/build-info/contracts.json'),
  JSON.stringify({ _format: 'hh-sol-build-info-1', id: 'contracts', solcVersion: long.split('+')[0], solcLongVersion: long, input, output }),
);
fs.writeFileSync(path.join(out, 'hardhat.config.js'), "module.exports = { solidity: '" + long.split('+')[0] + "' };\n");
console.log(`build-info for ${Object.keys(sources).length} sources with solc-js ${long}`);
