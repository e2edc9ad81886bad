// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {GuardianQuorum} from "./GuardianQuorum.sol";

/// @title MarginSpoke
/// @notice A spoke chain's end of cross-chain margin. It accepts a hub `MarginCredit`
/// (abi-encoded) only with k-of-n guardian signatures over its EIP-712 digest in this chain's and
/// this contract's domain, a nonce above the account's last one and an expiry still ahead; the
/// new credit replaces the account's previous one. A registered trading contract draws margin up
/// to the credit left and reports the account's positions (`PositionReport` events, which the
/// guardians relay to the hub at finality); the account (or its trading contract) voids credits
/// with `releaseCredit`, whose `CreditReleased` event the guardians attest to the hub. Expiries are
/// UTC milliseconds; amounts are base units of the hub's collateral token.
contract MarginSpoke is GuardianQuorum {
    bytes32 public constant MARGIN_CREDIT_TYPEHASH = keccak256(
        "MarginCredit(address account,uint256 spokeChainId,uint256 amount,uint64 nonce,uint64 expiry,uint64 hubStateVersion)"
    );

    /// @notice An account's current credit.
    struct CreditLine {
        uint256 amount;
        uint256 used;
        uint64 expiry;
        uint64 nonce;
        bool void;
    }

    /// @notice One position in a report: underlying ticker and signed size.
    struct Position {
        string underlying;
        int256 size;
    }

    /// @notice Chain id of the hub whose credits this spoke honours.
    uint256 public immutable hubChainId;
    mapping(address => CreditLine) internal lines;
    /// @notice Highest credit nonce accepted or released per account.
    mapping(address => uint64) public lastCreditNonce;
    /// @notice Position report counter per account.
    mapping(address => uint64) public reportNonce;
    /// @notice Release counter per account.
    mapping(address => uint64) public releaseNonce;
    /// @notice Trading contracts allowed to draw margin.
    mapping(address => bool) public isTrader;
    /// @notice Limit on credit accepted per window.
    Bucket public creditBucket;

    error WrongChain(uint256 spokeChainId);
    error Replay(uint64 nonce, uint64 last);
    error Expired(uint64 expiry, uint256 nowMs);
    error NotTrader();
    error InsufficientCredit(uint256 requested, uint256 available);
    error NotAuthorised();

    event CreditAccepted(address indexed account, uint64 nonce, uint256 amount, uint64 expiry, uint64 hubStateVersion);
    event Drawn(address indexed account, address indexed trader, uint256 amount, uint256 used);
    event PositionReport(
        address indexed account,
        uint256 spokeChainId,
        uint64 blockHeight,
        uint64 blockTime,
        uint64 nonce,
        Position[] positions,
        int256 realisedPnl,
        uint64 creditNonce,
        uint256 creditUsed,
        bool creditVoid
    );
    event CreditReleased(
        address indexed account, uint256 spokeChainId, uint64 creditNonce, uint256 used, uint64 blockHeight, uint64 nonce
    );
    event TraderSet(address trader, bool allowed);

    constructor(uint256 hubChainId_, address[] memory guardians_, uint256 threshold_, address admin_)
        GuardianQuorum(guardians_, threshold_, admin_)
    {
        hubChainId = hubChainId_;
    }

    // ----- views (names fixed by the issue) -----

    /// @notice The account's current credit: amount, expiry (ms) and nonce.
    function creditOf(address account) external view returns (uint256 amount, uint64 expiry, uint64 nonce) {
        CreditLine storage l = lines[account];
        return (l.amount, l.expiry, l.nonce);
    }

    /// @notice Credit the account can still draw now.
    function available(address account) public view returns (uint256) {
        CreditLine storage l = lines[account];
        if (l.void || l.expiry <= _nowMs()) return 0;
        return l.amount - l.used;
    }

    /// @notice Margin drawn on the account's current credit.
    function usedOf(address account) external view returns (uint256) {
        return lines[account].used;
    }

    // ----- admin -----

    /// @notice Allows or forbids a trading contract to draw margin.
    function setTrader(address trader, bool allowed) external onlyAdmin {
        isTrader[trader] = allowed;
        emit TraderSet(trader, allowed);
    }

    /// @notice Sets the limit on credit accepted per window.
    function setCreditLimit(uint128 capacity, uint128 ratePerSecond) external onlyAdmin {
        _setBucket(creditBucket, capacity, ratePerSecond);
    }

    // ----- flows -----

    /// @notice Accepts a hub credit: `payload` is the abi-encoded `MarginCredit`
    /// (account, spokeChainId, amount, nonce, expiry, hubStateVersion), `signatures` the guardians'.
    function acceptCredit(bytes calldata payload, bytes[] calldata signatures) external whenNotPaused {
        (address account, uint256 spokeChainId, uint256 amount, uint64 nonce, uint64 expiry, uint64 version) =
            abi.decode(payload, (address, uint256, uint256, uint64, uint64, uint64));
        if (spokeChainId != block.chainid) revert WrongChain(spokeChainId);
        bytes32 structHash =
            keccak256(abi.encode(MARGIN_CREDIT_TYPEHASH, account, spokeChainId, amount, nonce, expiry, version));
        _checkQuorum(_digest(structHash), signatures);
        uint64 last = lastCreditNonce[account];
        if (nonce <= last) revert Replay(nonce, last);
        if (expiry <= _nowMs()) revert Expired(expiry, _nowMs());
        _take(creditBucket, amount);
        lastCreditNonce[account] = nonce;
        lines[account] = CreditLine({amount: amount, used: 0, expiry: expiry, nonce: nonce, void: false});
        emit CreditAccepted(account, nonce, amount, expiry, version);
    }

    /// @notice A trading contract charges `amount` of margin to the account's credit.
    function draw(address account, uint256 amount) external whenNotPaused {
        if (!isTrader[msg.sender]) revert NotTrader();
        uint256 avail = available(account);
        if (amount > avail) revert InsufficientCredit(amount, avail);
        CreditLine storage l = lines[account];
        l.used += amount;
        emit Drawn(account, msg.sender, amount, l.used);
    }

    /// @notice A trading contract reports the account's positions and realised P&L.
    function reportPositions(address account, Position[] calldata positions, int256 realisedPnl) external {
        if (!isTrader[msg.sender]) revert NotTrader();
        CreditLine storage l = lines[account];
        uint64 n = ++reportNonce[account];
        emit PositionReport(
            account,
            block.chainid,
            uint64(block.number),
            uint64(block.timestamp * 1000),
            n,
            positions,
            realisedPnl,
            l.nonce,
            l.used,
            l.void
        );
    }

    /// @notice Voids the account's credits up to `creditNonce` (including ones not yet accepted,
    /// which can then never be accepted). Callable by the account or a trading contract.
    function releaseCredit(address account, uint64 creditNonce) external {
        if (msg.sender != account && !isTrader[msg.sender]) revert NotAuthorised();
        CreditLine storage l = lines[account];
        uint256 used = 0;
        if (l.nonce != 0 && l.nonce <= creditNonce) {
            l.void = true;
            used = l.used;
        }
        if (creditNonce > lastCreditNonce[account]) lastCreditNonce[account] = creditNonce;
        uint64 n = ++releaseNonce[account];
        emit CreditReleased(account, block.chainid, creditNonce, used, uint64(block.number), n);
    }
}
