// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {GuardianQuorum} from "./GuardianQuorum.sol";

interface IERC20Min {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @title MarginHub
/// @notice The hub chain's collateral pool. An account deposits the collateral token; it locks a
/// margin credit for a spoke chain (the hub checks on chain that its collateral still covers
/// every outstanding credit, then the guardians sign the `MarginCredit` for the spoke); a
/// quorum-signed `CreditRelease` (attesting the spoke's `CreditReleased` event at finality)
/// retires credits; a withdrawal needs a quorum-signed `WithdrawalPermit` for the account's
/// current state version, sized off chain by the guardians' unified requirement, plus the
/// account's own authorisation (the caller, or its ECDSA / EIP-1271 signature), and is refused
/// on chain when the collateral left would no longer cover the outstanding credits.
/// Amounts are base units of `collateralToken`; expiries are UTC milliseconds.
contract MarginHub is GuardianQuorum {
    bytes32 public constant WITHDRAWAL_PERMIT_TYPEHASH = keccak256(
        "WithdrawalPermit(address account,address recipient,uint256 amount,uint64 nonce,uint64 expiry,uint64 hubStateVersion)"
    );
    bytes32 public constant CREDIT_RELEASE_TYPEHASH = keccak256(
        "CreditRelease(address account,uint256 spokeChainId,uint64 creditNonce,uint256 used,uint64 blockHeight,uint64 nonce)"
    );

    /// @notice A credit locked for one spoke.
    struct Credit {
        uint256 amount;
        uint64 expiry;
        bool retired;
    }

    /// @notice The ERC-20 every deposit, credit and withdrawal is denominated in.
    address public immutable collateralToken;

    mapping(address => mapping(address => uint256)) internal collateral;
    mapping(address => mapping(uint256 => uint256)) internal outstanding;
    /// @notice Sum of an account's outstanding credits over all spokes.
    mapping(address => uint256) public totalOutstanding;
    /// @notice Last credit nonce locked per (account, spoke chain).
    mapping(address => mapping(uint256 => uint64)) public creditNonce;
    /// @notice Credits retired up to this nonce per (account, spoke chain).
    mapping(address => mapping(uint256 => uint64)) public retiredUpTo;
    /// @notice Last release attestation nonce per (account, spoke chain).
    mapping(address => mapping(uint256 => uint64)) public releaseNonce;
    /// @notice Credit by (account, spoke chain, nonce).
    mapping(address => mapping(uint256 => mapping(uint64 => Credit))) public credits;
    /// @notice Last withdrawal permit nonce per account.
    mapping(address => uint64) public permitNonce;
    /// @notice Bumped on every credit lock and withdrawal; permits are bound to it.
    mapping(address => uint64) public stateVersion;
    /// @notice Spoke contract per spoke chain id (zero: not a spoke).
    mapping(uint256 => address) public spokeOf;
    /// @notice Credit outflow limit per spoke chain.
    mapping(uint256 => Bucket) public chainBucket;
    /// @notice Withdrawal outflow limit per asset.
    mapping(address => Bucket) public assetBucket;

    error UnknownSpoke(uint256 spokeChainId);
    error ZeroAmount();
    error InvariantViolation(uint256 collateralAfter, uint256 outstandingCredit);
    error Expired(uint64 expiry, uint256 nowMs);
    error Replay(uint64 nonce, uint64 last);
    error StaleState(uint64 signed, uint64 current);
    error WrongToken();
    error TransferFailed();
    error NotAuthorised();

    event Deposited(address indexed account, address indexed token, uint256 amount, address from);
    event CreditLocked(
        address indexed account,
        uint256 indexed spokeChainId,
        uint64 nonce,
        uint256 amount,
        uint64 expiry,
        uint64 hubStateVersion
    );
    event CreditRetired(address indexed account, uint256 indexed spokeChainId, uint64 upToNonce, uint256 used);
    event Withdrawn(address indexed account, address indexed recipient, uint256 amount, uint64 nonce);
    event SpokeSet(uint256 indexed spokeChainId, address spoke);

    constructor(address token_, address[] memory guardians_, uint256 threshold_, address admin_)
        GuardianQuorum(guardians_, threshold_, admin_)
    {
        if (token_.code.length == 0) revert WrongToken();
        collateralToken = token_;
    }

    // ----- views (names fixed by the issue) -----

    /// @notice Collateral of `account` in `token` base units.
    function collateralOf(address account, address token) external view returns (uint256) {
        return collateral[account][token];
    }

    /// @notice Credits locked for `account` on `spokeChainId` and not yet retired.
    function outstandingCredit(address account, uint256 spokeChainId) external view returns (uint256) {
        return outstanding[account][spokeChainId];
    }

    // ----- admin -----

    /// @notice Registers the spoke contract of a chain with its credit outflow limit.
    function setSpoke(uint256 spokeChainId, address spoke, uint128 capacity, uint128 ratePerSecond)
        external
        onlyAdmin
    {
        spokeOf[spokeChainId] = spoke;
        _setBucket(chainBucket[spokeChainId], capacity, ratePerSecond);
        emit SpokeSet(spokeChainId, spoke);
    }

    /// @notice Sets the withdrawal outflow limit of an asset.
    function setAssetLimit(address token, uint128 capacity, uint128 ratePerSecond) external onlyAdmin {
        _setBucket(assetBucket[token], capacity, ratePerSecond);
    }

    // ----- flows -----

    /// @notice Pulls `amount` of the collateral token from the caller into `account`'s collateral.
    function deposit(address account, address token, uint256 amount) external {
        if (token != collateralToken) revert WrongToken();
        if (amount == 0) revert ZeroAmount();
        _pull(token, msg.sender, amount);
        collateral[account][token] += amount;
        emit Deposited(account, token, amount, msg.sender);
    }

    /// @notice Locks a credit of `amount` for the caller's account on `spokeChainId`, valid until
    /// `expiry` (ms). Reverts unless the collateral covers every outstanding credit after it.
    function lockCredit(uint256 spokeChainId, uint256 amount, uint64 expiry)
        external
        whenNotPaused
        returns (uint64 nonce)
    {
        address account = msg.sender;
        if (spokeOf[spokeChainId] == address(0)) revert UnknownSpoke(spokeChainId);
        if (amount == 0) revert ZeroAmount();
        if (expiry <= _nowMs()) revert Expired(expiry, _nowMs());
        uint256 after_ = totalOutstanding[account] + amount;
        uint256 coll = collateral[account][collateralToken];
        if (coll < after_) revert InvariantViolation(coll, after_);
        _take(chainBucket[spokeChainId], amount);
        nonce = creditNonce[account][spokeChainId] + 1;
        creditNonce[account][spokeChainId] = nonce;
        credits[account][spokeChainId][nonce] = Credit({amount: amount, expiry: expiry, retired: false});
        outstanding[account][spokeChainId] += amount;
        totalOutstanding[account] = after_;
        uint64 version = ++stateVersion[account];
        emit CreditLocked(account, spokeChainId, nonce, amount, expiry, version);
    }

    /// @notice Retires every credit of (account, spoke) up to `creditNonce` (capped at the last one
    /// locked), on a quorum-signed `CreditRelease` (abi-encoded) attesting the spoke voided them.
    function retireCredit(bytes calldata payload, bytes[] calldata signatures) external {
        (address account, uint256 spokeChainId, uint64 upTo, uint256 used, uint64 blockHeight, uint64 nonce) =
            abi.decode(payload, (address, uint256, uint64, uint256, uint64, uint64));
        bytes32 structHash =
            keccak256(abi.encode(CREDIT_RELEASE_TYPEHASH, account, spokeChainId, upTo, used, blockHeight, nonce));
        _checkQuorum(_digest(structHash), signatures);
        uint64 last = releaseNonce[account][spokeChainId];
        if (nonce <= last) revert Replay(nonce, last);
        // The spoke voided every nonce up to `upTo`, including any not locked here yet: those
        // can never be accepted there, so retiring every credit locked so far is safe.
        uint64 locked = creditNonce[account][spokeChainId];
        if (upTo > locked) upTo = locked;
        releaseNonce[account][spokeChainId] = nonce;
        uint256 freed;
        for (uint64 n = retiredUpTo[account][spokeChainId] + 1; n <= upTo; n++) {
            Credit storage c = credits[account][spokeChainId][n];
            if (!c.retired) {
                c.retired = true;
                freed += c.amount;
            }
        }
        if (upTo > retiredUpTo[account][spokeChainId]) retiredUpTo[account][spokeChainId] = upTo;
        outstanding[account][spokeChainId] -= freed;
        totalOutstanding[account] -= freed;
        emit CreditRetired(account, spokeChainId, upTo, used);
    }

    /// @notice Pays a quorum-signed `WithdrawalPermit` (abi-encoded). The caller must be the
    /// account, or `accountSignature` must be the account's signature over the permit digest
    /// (ECDSA for an EOA, EIP-1271 for a smart account).
    function withdraw(bytes calldata payload, bytes[] calldata signatures, bytes calldata accountSignature)
        external
        whenNotPaused
    {
        (address account, address recipient, uint256 amount, uint64 nonce, uint64 expiry, uint64 version) =
            abi.decode(payload, (address, address, uint256, uint64, uint64, uint64));
        bytes32 digest = _digest(
            keccak256(abi.encode(WITHDRAWAL_PERMIT_TYPEHASH, account, recipient, amount, nonce, expiry, version))
        );
        _checkQuorum(digest, signatures);
        if (msg.sender != account) _checkAccount(account, digest, accountSignature);
        if (expiry <= _nowMs()) revert Expired(expiry, _nowMs());
        uint64 last = permitNonce[account];
        if (nonce <= last) revert Replay(nonce, last);
        if (version != stateVersion[account]) revert StaleState(version, stateVersion[account]);
        if (amount == 0) revert ZeroAmount();
        uint256 coll = collateral[account][collateralToken];
        if (amount > coll || coll - amount < totalOutstanding[account]) {
            revert InvariantViolation(amount > coll ? 0 : coll - amount, totalOutstanding[account]);
        }
        _take(assetBucket[collateralToken], amount);
        permitNonce[account] = nonce;
        collateral[account][collateralToken] = coll - amount;
        stateVersion[account] = version + 1;
        _push(collateralToken, recipient, amount);
        emit Withdrawn(account, recipient, amount, nonce);
    }

    function _pull(address token, address from, uint256 amount) internal {
        (bool ok, bytes memory ret) =
            token.call(abi.encodeCall(IERC20Min.transferFrom, (from, address(this), amount)));
        if (!ok || (ret.length > 0 && !abi.decode(ret, (bool)))) revert TransferFailed();
    }

    function _push(address token, address to, uint256 amount) internal {
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20Min.transfer, (to, amount)));
        if (!ok || (ret.length > 0 && !abi.decode(ret, (bool)))) revert TransferFailed();
    }
}
