// Reference EIP-712 digests from MetaMask's eth-sig-util for crates/xchain/tests/eip712_random.rs.
//
// Reads a JSON array of eth_signTypedData_v4 documents on stdin and prints, one line per
// document, the hex digest TypedDataUtils.eip712Hash(doc, V4) or "error: <reason>". JSON numbers
// are read by JavaScript's JSON.parse, so the Rust test sends integers beyond 2^53 as strings,
// as a JavaScript caller must.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.env.INTERMARGIN_E2E_MODULES + "/");
const { TypedDataUtils, SignTypedDataVersion } = require("@metamask/eth-sig-util");

const docs = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const doc of docs) {
  try {
    out.push(Buffer.from(TypedDataUtils.eip712Hash(doc, SignTypedDataVersion.V4)).toString("hex"));
  } catch (e) {
    out.push("error: " + String(e && e.message ? e.message : e).replace(/\n/g, " "));
  }
}
process.stdout.write(out.join("\n") + "\n");
