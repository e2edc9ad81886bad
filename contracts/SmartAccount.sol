// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title SmartAccount
/// @notice A minimal ERC-4337-style smart-contract account: its owner key signs through
/// EIP-1271 (`isValidSignature`, ECDSA low-s) and drives calls through `execute`, so margin is
/// bound to this contract's address on every chain rather than to a key.
contract SmartAccount {
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// @notice The key that controls the account.
    address public owner;

    error NotOwner();
    error CallFailed(bytes reason);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice Calls `target` with `data` and `value` as this account; owner only.
    function execute(address target, uint256 value, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != owner) revert NotOwner();
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) revert CallFailed(ret);
        return ret;
    }

    /// @notice EIP-1271: the magic value when the owner signed `hash` (65-byte r ‖ s ‖ v, low s).
    function isValidSignature(bytes32 hash, bytes calldata sig) external view returns (bytes4) {
        if (sig.length != 65) return 0xffffffff;
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) return 0xffffffff;
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }

    receive() external payable {}
}
