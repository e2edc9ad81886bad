// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev The hevm cheat codes halmos implements (the subset these tests use), at the fixed hevm
/// address `address(uint160(uint256(keccak256("hevm cheat code"))))`.
interface Vm {
    function assume(bool condition) external pure;
    function prank(address sender) external;
    function warp(uint256 timestamp) external;
    function chainId(uint256 id) external;
}

/// @dev halmos's own cheat codes for fresh symbolic values, at
/// `address(uint160(uint256(keccak256("svm cheat code"))))`.
interface SVM {
    function createUint(uint256 bits, string calldata name) external returns (uint256);
    function createUint256(string calldata name) external returns (uint256);
    function createBytes32(string calldata name) external returns (bytes32);
    function createAddress(string calldata name) external returns (address);
    function createBool(string calldata name) external returns (bool);
}

/// @dev Shared set-up of the symbolic tests: cheat codes, a fixed 3-guardian set and the EIP-712
/// digest written out from EIP-712 itself (not read from the contracts), so an accepted message's
/// signers are recovered over the digest the guardians are meant to sign.
abstract contract SymTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    SVM internal constant svm = SVM(address(uint160(uint256(keccak256("svm cheat code")))));

    address internal constant G1 = address(0x1000000000000000000000000000000000000001);
    address internal constant G2 = address(0x1000000000000000000000000000000000000002);
    address internal constant G3 = address(0x1000000000000000000000000000000000000003);
    /// @dev Block time of every test (seconds; expiries are milliseconds).
    uint256 internal constant NOW = 1_750_000_000;

    function guardianSet() internal pure returns (address[] memory g) {
        g = new address[](3);
        g[0] = G1;
        g[1] = G2;
        g[2] = G3;
    }

    /// @dev EIP-712 `keccak256(0x1901 ‖ domainSeparator ‖ structHash)` for the domain
    /// (name "intermargin", version "1", chainid, verifyingContract).
    function eip712(address verifyingContract, bytes32 structHash) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("intermargin"),
                keccak256("1"),
                block.chainid,
                verifyingContract
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    /// @dev A fully symbolic 65-byte `r ‖ s ‖ v` signature.
    function symSig(string memory name) internal returns (bytes memory) {
        return abi.encodePacked(
            svm.createBytes32(string.concat(name, ".r")),
            svm.createBytes32(string.concat(name, ".s")),
            uint8(svm.createUint(8, string.concat(name, ".v")))
        );
    }

    /// @dev `n` (0..3) symbolic signatures; any of them may recover to any address, since halmos
    /// models `ecrecover` as an uninterpreted function.
    function symSigs(uint256 n, string memory name) internal returns (bytes[] memory sigs) {
        sigs = new bytes[](n);
        if (n > 0) sigs[0] = symSig(string.concat(name, "0"));
        if (n > 1) sigs[1] = symSig(string.concat(name, "1"));
        if (n > 2) sigs[2] = symSig(string.concat(name, "2"));
    }

    /// @dev The signer `ecrecover` gives for a 65-byte signature over `digest`.
    function signerOf(bytes32 digest, bytes memory sig) internal pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        return ecrecover(digest, v, r, s);
    }

    /// @dev How many distinct guardians among G1..G3 signed `digest` in `sigs`. Written without
    /// branches (a bit mask of the guardians seen), so the test adds no paths of its own.
    function distinctGuardians(bytes32 digest, bytes[] memory sigs) internal pure returns (uint256 count) {
        uint256 mask;
        (address g1, address g2, address g3) = (G1, G2, G3);
        for (uint256 i = 0; i < sigs.length; i++) {
            address a = signerOf(digest, sigs[i]);
            assembly {
                mask := or(mask, or(eq(a, g1), or(shl(1, eq(a, g2)), shl(2, eq(a, g3)))))
            }
        }
        count = (mask & 1) + ((mask >> 1) & 1) + ((mask >> 2) & 1);
    }
}
