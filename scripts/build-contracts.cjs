#!/usr/bin/env node
// Compiles contracts/*.sol with the pinned solc-js (tests/e2e/package.json, or the package named
// by INTERMARGIN_SOLC_JS) and writes, per contract, contracts/build/<Name>.abi.json and
// contracts/build/<Name>.bin (creation bytecode, hex) plus contracts/build/build-info.json
// (compiler version, settings, source keccak). The artifacts are committed; `--check` recompiles
// and exits 1 when any committed file differs (crates/xchain/tests/contracts.rs runs it).
// Usage: node scripts/build-contracts.cjs [--check]
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const solcPath = process.env.INTERMARGIN_SOLC_JS || path.join(root, 'tests/e2e/node_modules/solc');
const solc = require(solcPath);
const check = process.argv.includes('--check');
const srcDir = path.join(root, 'contracts');
const outDir = path.join(srcDir, 'build');
const CONTRACTS = ['MarginHub', 'MarginSpoke', 'TestToken', 'SmartAccount'];

const files = fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort();
const sources = {};
for (const f of files) sources[f] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};
const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings })));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'));
  process.exit(1);
}
for (const w of out.errors || []) console.error(w.formattedMessage);

const artifacts = {};
for (const name of CONTRACTS) {
  const c = out.contracts[`${name}.sol`][name];
  artifacts[`${name}.abi.json`] = JSON.stringify(c.abi, null, 2) + '\n';
  artifacts[`${name}.bin`] = c.evm.bytecode.object + '\n';
}
const sha256 = (t) => require('crypto').createHash('sha256').update(t).digest('hex');
artifacts['build-info.json'] = JSON.stringify({
  compiler: 'solc-js ' + solc.version(),
  settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion },
  sources: Object.fromEntries(files.map((f) => [f, { sha256: sha256(sources[f].content) }])),
}, null, 2) + '\n';

let stale = [];
if (!check) fs.mkdirSync(outDir, { recursive: true });
for (const [file, text] of Object.entries(artifacts)) {
  const p = path.join(outDir, file);
  if (check) {
    const old = fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null;
    if (old !== text) stale.push(file);
  } else {
    fs.writeFileSync(p, text);
  }
}
if (check && stale.length) {
  console.error('contracts/build is stale (run node scripts/build-contracts.cjs): ' + stale.join(', '));
  process.exit(1);
}
console.log((check ? 'checked ' : 'wrote ') + Object.keys(artifacts).length + ' files in contracts/build');
