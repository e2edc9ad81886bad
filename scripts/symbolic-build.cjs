#!/usr/bin/env node
// Compiles the property harnesses of contracts/audit/Properties.sol (with contracts/*.sol) with the
// pinned solc-js and the production settings, writing OUTDIR/<Harness>.bin (creation bytecode, hex)
// for mythril. Usage: node scripts/symbolic-build.cjs OUTDIR
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/symbolic-build.cjs OUTDIR');
  process.exit(2);
}
const solc = require(process.env.INTERMARGIN_SOLC_JS || path.join(root, 'tests/e2e/node_modules/solc'));
const sources = {};
for (const f of fs.readdirSync(path.join(root, 'contracts')).filter((f) => f.endsWith('.sol'))) {
  sources[f] = { content: fs.readFileSync(path.join(root, 'contracts', f), 'utf8') };
}
sources['audit/Properties.sol'] = { content: fs.readFileSync(path.join(root, 'contracts/audit/Properties.sol'), 'utf8') };
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { 'audit/Properties.sol': { '*': ['evm.bytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: (p) => (sources[p] ? { contents: sources[p].content } : { error: 'not found: ' + p }) }));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'));
  process.exit(1);
}
fs.mkdirSync(out, { recursive: true });
for (const [name, c] of Object.entries(output.contracts['audit/Properties.sol'])) {
  fs.writeFileSync(path.join(out, `${name}.bin`), c.evm.bytecode.object + '\n');
  console.log(`${name}: ${c.evm.bytecode.object.length / 2} bytes`);
}
