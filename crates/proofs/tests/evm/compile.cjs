// Compiles the Solidity source on stdin with solc-js and prints the deployed bytecode (hex) of
// contract MarginVerifier. Usage: node compile.cjs <path to solc-js package> < Verifier.sol
const solc = require(process.argv[2]);
const source = require('fs').readFileSync(0, 'utf8');
const input = {
  language: 'Solidity',
  sources: { 'Verifier.sol': { content: source } },
  settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { '*': { '*': ['evm.deployedBytecode.object'] } } },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'));
  process.exit(1);
}
process.stdout.write(out.contracts['Verifier.sol'].MarginVerifier.evm.deployedBytecode.object);
