// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title GuardianQuorum
/// @notice k-of-n guardian signature checks shared by MarginHub and MarginSpoke: EIP-712 domain
/// separation (name "intermargin", version "1", this chain's id, this contract), ECDSA signatures
/// (`r ‖ s ‖ v`, low-s only, v ∈ {27, 28}) and EIP-1271 contract signers, distinct known signers,
/// an admin that pauses, and token buckets that cap value per window (as Chainlink CCIP's rate
/// limiter and Wormhole's Governor do). The EIP-712 type strings are the Rust `sol!` types of
/// crates/xchain/src/messages.rs; crates/xchain/tests/contracts.rs checks the hashes agree.
abstract contract GuardianQuorum {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant NAME_HASH = keccak256("intermargin");
    bytes32 internal constant VERSION_HASH = keccak256("1");
    /// @dev secp256k1 n / 2: a larger s is the malleable twin of a valid signature.
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// @dev EIP-1271 `isValidSignature(bytes32,bytes)` magic value.
    bytes4 internal constant EIP1271_MAGIC = 0x1626ba7e;

    error NotAdmin();
    error Paused();
    error BadThreshold();
    error DuplicateGuardian(address guardian);
    error BadSignature(uint256 index);
    error HighS(uint256 index);
    error NotGuardian(uint256 index, address signer);
    error DuplicateSigner(uint256 index, address signer);
    error BelowThreshold(uint256 distinct, uint256 threshold);
    error RateLimited(uint256 requested, uint256 available);
    error BadAccountSignature();

    event PauseSet(bool paused);

    /// @notice Token bucket: `capacity` base units, refilled at `ratePerSecond`, capped at capacity.
    struct Bucket {
        uint128 capacity;
        uint128 tokens;
        uint128 ratePerSecond;
        uint64 last;
        bool enabled;
    }

    /// @notice Who may pause, unpause and configure limits.
    address public admin;
    /// @notice Whether state-changing flows that move value are stopped.
    bool public paused;
    /// @notice Distinct guardian signatures needed.
    uint256 public threshold;
    address[] internal guardianList;
    /// @notice Whether an address is a guardian.
    mapping(address => bool) public isGuardian;

    constructor(address[] memory guardians_, uint256 threshold_, address admin_) {
        if (threshold_ == 0 || threshold_ > guardians_.length) revert BadThreshold();
        for (uint256 i = 0; i < guardians_.length; i++) {
            if (isGuardian[guardians_[i]] || guardians_[i] == address(0)) revert DuplicateGuardian(guardians_[i]);
            isGuardian[guardians_[i]] = true;
        }
        guardianList = guardians_;
        threshold = threshold_;
        admin = admin_;
    }

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin();
        _;
    }

    modifier whenNotPaused() {
        if (paused) revert Paused();
        _;
    }

    /// @notice The guardian addresses.
    function guardians() external view returns (address[] memory) {
        return guardianList;
    }

    /// @notice Stops (true) or resumes (false) value-moving flows.
    function setPaused(bool p) external onlyAdmin {
        paused = p;
        emit PauseSet(p);
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`.
    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// @dev Recovers an ECDSA `r ‖ s ‖ v` signer; reverts on a wrong length, v, high s or zero result.
    function _recover(bytes32 digest, bytes memory sig, uint256 index) internal pure returns (address) {
        if (sig.length != 65) revert BadSignature(index);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        if (uint256(s) > HALF_N) revert HighS(index);
        if (v != 27 && v != 28) revert BadSignature(index);
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert BadSignature(index);
        return signer;
    }

    /// @dev True when contract `signer` answers the EIP-1271 magic value for (digest, sig).
    function _isValid1271(address signer, bytes32 digest, bytes memory sig) internal view returns (bool) {
        if (signer.code.length == 0) return false;
        (bool ok, bytes memory ret) =
            signer.staticcall(abi.encodeWithSelector(EIP1271_MAGIC, digest, sig));
        return ok && ret.length >= 32 && abi.decode(ret, (bytes4)) == EIP1271_MAGIC;
    }

    /// @dev Checks that at least `threshold` distinct guardians signed `digest`. A 65-byte
    /// signature is ECDSA; a longer one is `signer (20 bytes) ‖ inner signature` for an EIP-1271
    /// contract guardian. Any bad, unknown or repeated signer reverts the whole call.
    function _checkQuorum(bytes32 digest, bytes[] calldata sigs) internal view {
        address[] memory seen = new address[](sigs.length);
        for (uint256 i = 0; i < sigs.length; i++) {
            bytes calldata sig = sigs[i];
            address signer;
            if (sig.length == 65) {
                signer = _recover(digest, sig, i);
            } else {
                if (sig.length < 20) revert BadSignature(i);
                signer = address(bytes20(sig[:20]));
                if (!_isValid1271(signer, digest, sig[20:])) revert BadSignature(i);
            }
            if (!isGuardian[signer]) revert NotGuardian(i, signer);
            for (uint256 j = 0; j < i; j++) {
                if (seen[j] == signer) revert DuplicateSigner(i, signer);
            }
            seen[i] = signer;
        }
        if (sigs.length < threshold) revert BelowThreshold(sigs.length, threshold);
    }

    /// @dev Checks that `account` authorised `digest`: an EOA by ECDSA, a contract by EIP-1271.
    function _checkAccount(address account, bytes32 digest, bytes calldata sig) internal view {
        if (account.code.length > 0) {
            if (!_isValid1271(account, digest, sig)) revert BadAccountSignature();
        } else if (sig.length != 65 || _recover(digest, sig, 0) != account) {
            revert BadAccountSignature();
        }
    }

    /// @dev Tokens available in `b` now.
    function _available(Bucket storage b) internal view returns (uint256) {
        uint256 refill = uint256(b.ratePerSecond) * (block.timestamp - b.last);
        uint256 t = uint256(b.tokens) + refill;
        return t > b.capacity ? b.capacity : t;
    }

    /// @dev Takes `amount` from bucket `b` (a disabled bucket is unlimited) or reverts.
    function _take(Bucket storage b, uint256 amount) internal {
        if (!b.enabled) return;
        uint256 avail = _available(b);
        if (amount > avail) revert RateLimited(amount, avail);
        b.tokens = uint128(avail - amount);
        b.last = uint64(block.timestamp);
    }

    /// @dev Sets a full bucket.
    function _setBucket(Bucket storage b, uint128 capacity, uint128 ratePerSecond) internal {
        b.capacity = capacity;
        b.tokens = capacity;
        b.ratePerSecond = ratePerSecond;
        b.last = uint64(block.timestamp);
        b.enabled = true;
    }

    /// @dev Milliseconds since the epoch, the unit of every expiry in the attestations.
    function _nowMs() internal view returns (uint256) {
        return block.timestamp * 1000;
    }
}
