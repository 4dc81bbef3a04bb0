// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ILabelMarketV2Types} from "./interfaces/ILabelMarketV2.sol";
import {LabelPacking} from "./libraries/LabelPacking.sol";
import {Permutation} from "./libraries/Permutation.sol";
import {BundlePacking} from "./libraries/BundlePacking.sol";

/// @title LabelMarketV2Storage
/// @notice Storage layout and shared internals of `LabelMarketV2` and of its settlement module, which runs in the
///         market's storage through `delegatecall` (the market alone would not fit the 24,576-byte code limit).
///         Both inherit this contract and nothing else with storage, so their layouts are the same by construction.
abstract contract LabelMarketV2Storage is ILabelMarketV2Types {
    using LabelPacking for uint256;

    // ------------------------------------------------------------------------------------------------
    // Constants and immutables
    // ------------------------------------------------------------------------------------------------

    /// @notice Largest task: 32 labels x 4 bits fill a bundle's 128-bit task field.
    uint256 public constant MAX_TASK_SIZE = 32;
    /// @notice Largest replication factor: 4-bit vote counters.
    uint256 public constant MAX_REPLICAS = 15;
    /// @notice Largest number of classes: 4-bit labels.
    uint256 public constant MAX_CLASSES = 16;
    /// @notice Largest bundle (tasks per join).
    uint256 public constant MAX_BUNDLE = 32;
    /// @notice Most join rounds a batch can have: bounds the walk that maps a late round's ticket back to its task
    ///         (and keeps the 16-bit round counter far from wrapping).
    uint256 internal constant MAX_ROUNDS = 255;
    /// @notice Reputation weight of a gold answer relative to a consensus-checked label.
    int256 public constant GOLD_WEIGHT = 3;
    /// @notice Reputation cost of a task committed and never revealed, or of a bundle never committed.
    int256 public constant NO_SHOW_WEIGHT = 10;
    /// @notice Token annotators stake (the protocol token).
    IERC20 public immutable STAKE_TOKEN;
    /// @notice Receives slashed stake no agreeing annotator can take, forfeits and withheld escrow.
    address public immutable TREASURY;
    /// @dev Low bits of a stored bundle word: its status. The rest is a hash of what the bundle is at that status.
    uint256 internal constant STATUS_MASK = 3;
    /// @notice Number of batches created; batch ids are 0..batchCount-1.
    // slither-disable-next-line uninitialized-state (the module reads what the market writes: one storage)
    uint256 public batchCount;
    // slither-disable-next-line uninitialized-state (written through the storage pointer in _createBatch)
    mapping(uint256 batchId => Batch) internal _batches;
    // slither-disable-next-line uninitialized-state (written by the market; the module's `expire` reads it: one storage)
    mapping(uint256 batchId => mapping(uint256 round => Round)) internal _rounds;
    // slither-disable-next-line uninitialized-state (the module reads what the market writes: one storage)
    mapping(uint256 batchId => mapping(uint256 round => bytes32)) internal _seeds;
    /// @dev Key: round << 8 | lane.
    // slither-disable-next-line uninitialized-state (the module reads what the market writes: one storage)
    mapping(uint256 batchId => mapping(uint256 key => LaneRound)) internal _laneRounds;
    /// @dev Committed tickets, one bit per ticket. Key: (round << 8 | lane) << 32 | word.
    mapping(uint256 batchId => mapping(uint256 key => uint256)) internal _tickets;
    /// @dev Hash of a bundle's data (and commitment, then labels) with its status in the low bits.
    // slither-disable-next-line uninitialized-state (the module reads what the market writes: one storage)
    mapping(uint256 batchId => mapping(uint256 bundleId => uint256)) internal _bundles;
    /// @dev Per annotator: lastRound << 8 | (lane + 1); zero before the first join.
    mapping(uint256 batchId => mapping(address annotator => uint256)) internal _members;
    /// @dev One bit per settled task.
    // slither-disable-next-line uninitialized-state (written by the settlement module through delegatecall)
    mapping(uint256 batchId => mapping(uint256 word => uint256)) internal _settled;
    /// @dev One bit per item decided by the reviewer.
    // slither-disable-next-line uninitialized-state (written by the settlement module through delegatecall)
    mapping(uint256 batchId => mapping(uint256 word => uint256)) internal _resolved;
    /// @dev Revealed gold of a task: mask << 128 | packed labels.
    // slither-disable-next-line uninitialized-state (written by the settlement module through delegatecall)
    mapping(uint256 batchId => mapping(uint256 taskId => uint256)) internal _gold;
    // slither-disable-next-line uninitialized-state (written through storage pointers: `Account storage a = ...`)
    mapping(address annotator => Account) internal _accounts;
    // slither-disable-next-line uninitialized-state (written by the module through delegatecall; the market reads it)
    mapping(address annotator => mapping(address domain => Reputation)) internal _reputation;
    /// @notice Stake queued for withdrawal after the cooldown.
    mapping(address annotator => uint256) public pendingUnstake;
    /// @notice Whether an annotator holds a qualification for a batch.
    // slither-disable-next-line uninitialized-state (written by the market's `qualify`; the module reads it: one storage)
    mapping(uint256 batchId => mapping(address annotator => bool)) public qualified;
    /// @notice Rewards and redistributed stake credited to an account, per token; pulled with `collect`.
    mapping(address account => mapping(address token => uint256)) public claimable;
    /// @dev Copies, made at creation and never changed, of what `join` and `reveal` read from the config, packed
    ///      so that a join reads two words instead of five: numTasks | replicas << 32 | maxBundle << 40 |
    ///      numClasses << 48 | qualifier << 56.
    // slither-disable-next-line uninitialized-state (written by the market at creation; the module reads it: one storage)
    mapping(uint256 batchId => uint256) internal _shapes;
    /// @dev stakePerTask | minStake << 96 | uint64(minReputation) << 192.
    // slither-disable-next-line uninitialized-state (written by the market at creation; the module reads it: one storage)
    mapping(uint256 batchId => uint256) internal _joinTerms;
    /// @dev Outcome of each settled task of a batch whose qualifier is a contract (such as the generation market, which
    ///      reads it): result | decided flags << 128 | 1 << 255, the first `TasksSettled` word, updated by `resolve`.
    // slither-disable-next-line uninitialized-state (written by the settlement module through delegatecall)
    mapping(uint256 batchId => mapping(uint256 taskId => uint256)) internal _outcomes;
    /// @dev A batch's optimistic settlement (`LabelMarketV2Optimistic`); `settle` refuses a batch with a live or final one.
    // slither-disable-next-line uninitialized-state (written by the optimistic module through delegatecall)
    mapping(uint256 batchId => Proposal) internal _proposals;

    /// @param stakeToken The protocol token annotators stake.
    /// @param treasury Receives slashed stake no agreeing annotator can take.
    constructor(IERC20 stakeToken, address treasury) {
        if (address(stakeToken) == address(0)) revert InvalidParams("stakeToken");
        if (treasury == address(0)) revert InvalidParams("treasury");
        STAKE_TOKEN = stakeToken;
        TREASURY = treasury;
    }

    // ------------------------------------------------------------------------------------------------
    // Positions: tickets, pools, permutations
    // ------------------------------------------------------------------------------------------------

    /// @dev Lane `lane` in `round`; round 1 of a lane nobody joined yet is its whole pool of `numTasks`.
    function _laneRound(uint256 batchId, uint256 round, uint256 lane, uint256 numTasks)
        internal
        view
        returns (LaneRound memory lr)
    {
        lr = _laneRounds[batchId][_laneKey(round, lane)];
        if (!lr.open && round == 1) lr.pool = uint32(numTasks);
    }

    /// @dev The task of ticket `ticket` of `lane` in `round`: the round's permutation maps the ticket into the
    ///      round's pool; a pool index of round p > 1 is the index-th ticket of round p - 1 never committed, and
    ///      so on down to round 1, whose pool indices are the tasks.
    function _taskOf(uint256 batchId, uint256 lane, uint256 round, uint256 ticket, uint256 numTasks)
        internal
        view
        returns (uint256 index)
    {
        for (uint256 p = round;; --p) {
            uint256 pool = _laneRound(batchId, p, lane, numTasks).pool;
            bytes32 seed = _seeds[batchId][p];
            index = seed == 0 ? ticket : Permutation.permute(ticket, pool, _laneSeed(seed, lane));
            if (p == 1) return index;
            ticket = _selectUncommitted(batchId, p - 1, lane, index);
        }
    }

    function _markTickets(uint256 batchId, uint256 round, uint256 lane, uint256 first, uint256 size) internal {
        uint256 base = _laneKey(round, lane) << 32;
        uint256 end = first + size;
        for (uint256 t = first; t < end;) {
            uint256 word = t >> 8;
            uint256 wordEnd = (word + 1) << 8;
            uint256 stop = end < wordEnd ? end : wordEnd;
            uint256 bits = stop - t;
            uint256 mask = (bits == 256 ? type(uint256).max : ((1 << bits) - 1)) << (t & 255);
            _tickets[batchId][base | word] |= mask;
            t = stop;
        }
    }

    function _ticketCommitted(uint256 batchId, uint256 round, uint256 lane, uint256 ticket)
        internal
        view
        returns (bool)
    {
        return (_tickets[batchId][(_laneKey(round, lane) << 32) | (ticket >> 8)] >> (ticket & 255)) & 1 != 0;
    }

    /// @dev Committed tickets of `lane` in `round` below `ticket`.
    function _committedBelow(uint256 batchId, uint256 round, uint256 lane, uint256 ticket)
        internal
        view
        returns (uint256 n)
    {
        uint256 base = _laneKey(round, lane) << 32;
        uint256 last = ticket >> 8;
        for (uint256 w; w < last; ++w) {
            n += _popcount(_tickets[batchId][base | w]);
        }
        uint256 rest = ticket & 255;
        if (rest != 0) n += _popcount(_tickets[batchId][base | last] & ((1 << rest) - 1));
    }

    // slither-disable-start incorrect-equality (counts down to an exact index; no balance or time)
    /// @dev The ticket of `lane` in `round` that is the `index`-th (from 0) never committed.
    function _selectUncommitted(uint256 batchId, uint256 round, uint256 lane, uint256 index)
        internal
        view
        returns (uint256 ticket)
    {
        uint256 base = _laneKey(round, lane) << 32;
        uint256 w = 0;
        uint256 bits = _tickets[batchId][base];
        // Callers ask for an index below the round's uncommitted count, so the scan ends inside the pool.
        for (uint256 zeros = 256 - _popcount(bits); index >= zeros; zeros = 256 - _popcount(bits)) {
            index -= zeros;
            bits = _tickets[batchId][base | ++w];
        }
        return (w << 8) | _nthZero(bits, index);
    }

    // slither-disable-end incorrect-equality

    /// @dev Position of the `index`-th (from 0) zero bit of `bits`, which has more than `index` zero bits: counts of
    ///      zeros per 2, 4 and 8 bits computed in parallel, then a binary search without loops: halves of 128 to 8
    ///      bits by summing byte counts (a sum of at most 16 bytes fits the top byte of the product), then 4, 2, 1.
    function _nthZero(uint256 bits, uint256 index) internal pure returns (uint256 pos) {
        assembly ("memory-safe") {
            let x := not(bits)
            let c2 := sub(x, and(shr(1, x), 0x5555555555555555555555555555555555555555555555555555555555555555))
            let c4 :=
                add(
                    and(c2, 0x3333333333333333333333333333333333333333333333333333333333333333),
                    and(shr(2, c2), 0x3333333333333333333333333333333333333333333333333333333333333333)
                )
            let c8 := and(add(c4, shr(4, c4)), 0x0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F)
            let ones := 0x0101010101010101010101010101010101010101010101010101010101010101
            let below := shr(248, mul(and(c8, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF), ones))
            if iszero(lt(index, below)) {
                index := sub(index, below)
                pos := 128
            }
            below := shr(248, mul(and(shr(pos, c8), 0xFFFFFFFFFFFFFFFF), ones))
            if iszero(lt(index, below)) {
                index := sub(index, below)
                pos := add(pos, 64)
            }
            below := shr(248, mul(and(shr(pos, c8), 0xFFFFFFFF), ones))
            if iszero(lt(index, below)) {
                index := sub(index, below)
                pos := add(pos, 32)
            }
            below := shr(248, mul(and(shr(pos, c8), 0xFFFF), ones))
            if iszero(lt(index, below)) {
                index := sub(index, below)
                pos := add(pos, 16)
            }
            below := and(shr(pos, c8), 0xFF)
            if iszero(lt(index, below)) {
                index := sub(index, below)
                pos := add(pos, 8)
            }
            below := and(shr(pos, c4), 0xF)
            if iszero(lt(index, below)) {
                index := sub(index, below)
                pos := add(pos, 4)
            }
            below := and(shr(pos, c2), 0x3)
            if iszero(lt(index, below)) {
                index := sub(index, below)
                pos := add(pos, 2)
            }
            if iszero(lt(index, and(shr(pos, x), 1))) { pos := add(pos, 1) }
        }
    }

    /// @dev A created batch: its requester (the creator, never zero) shares the config's first slot with the
    ///      deadlines most callers read anyway, so the check costs no storage read of its own (`batchCount` would).
    function _batch(uint256 batchId) internal view returns (Batch storage b) {
        b = _batches[batchId];
        if (b.config.requester == address(0)) revert UnknownBatch(batchId);
    }

    function _domain(BatchConfig storage c) internal view returns (address) {
        address q = c.qualifier;
        return q == address(0) ? c.requester : q;
    }

    function _isSettled(uint256 batchId, uint256 taskId) internal view returns (bool) {
        return (_settled[batchId][taskId >> 8] >> (taskId & 255)) & 1 != 0;
    }

    function _expect(uint256 batchId, uint256 bundleId, bytes32 h, Status status) internal view {
        if (_bundles[batchId][bundleId] != _word(h, status)) revert BundleMismatch(bundleId, status);
    }

    function _word(bytes32 h, Status status) internal pure returns (uint256) {
        return (uint256(h) & ~STATUS_MASK) | uint256(status);
    }

    function _laneKey(uint256 round, uint256 lane) internal pure returns (uint256) {
        return (round << 8) | lane;
    }

    function _laneSeed(bytes32 seed, uint256 lane) internal pure returns (bytes32) {
        return keccak256(abi.encode(seed, lane));
    }

    /// @dev Set bits of a word, without a loop: pairs, nibbles, bytes, 16-bit fields, then one multiplication
    ///      sums the sixteen 16-bit fields into the top one (each partial sum is at most 256).
    function _popcount(uint256 x) internal pure returns (uint256) {
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x = (x & 0x3333333333333333333333333333333333333333333333333333333333333333)
                + ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F;
            x = (x + (x >> 8)) & 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF;
            return (x * 0x0001000100010001000100010001000100010001000100010001000100010001) >> 240;
        }
    }

    // slither-disable-start incorrect-equality (exact search of a sorted list; no balance or time involved)
    /// @dev Binary search of a strictly increasing list, after a direct look where a run of consecutive values
    ///      would hold `value` (settlement task lists are mostly such runs).
    function _find(uint256[] memory list, uint256 value) internal pure returns (bool found, uint256 index) {
        uint256 hi = list.length;
        if (hi == 0) return (false, 0);
        uint256 first = list[0];
        if (value >= first && value - first < hi && list[value - first] == value) return (true, value - first);
        uint256 lo = 0;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            uint256 v = list[mid];
            if (v == value) return (true, mid);
            if (v < value) lo = mid + 1;
            else hi = mid;
        }
        return (false, 0);
    }
    // slither-disable-end incorrect-equality

    // ------------------------------------------------------------------------------------------------
    // Labels and commitments (the market's reveal and a reveal carried by a settlement)
    // ------------------------------------------------------------------------------------------------

    uint256 internal constant LOW_NIBBLES = 0x0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F;
    uint256 internal constant BYTE_ONES = 0x01010101010101010101010101010101;
    uint256 internal constant BYTE_HIGH = 0x80808080808080808080808080808080;

    /// @dev Every label of every task a class of the batch; the unused half of an odd bundle's last word empty.
    function _checkLabels(uint256[] calldata labels, uint256 size, uint256 numClasses) internal pure {
        uint256 words = BundlePacking.wordsFor(size);
        if (labels.length != words) revert WrongBundleLength(labels.length, words);
        if (size % 2 == 1 && labels[words - 1] >> BundlePacking.TASK_BITS != 0) revert WrongBundleLength(words, words);
        for (uint256 i; i < size; ++i) {
            uint256 field = BundlePacking.taskLabels(labels, i);
            if (!_labelsInRange(field, numClasses)) {
                for (uint256 item; item < MAX_TASK_SIZE; ++item) {
                    uint256 l = field.get(item);
                    if (l >= numClasses) revert LabelOutOfRange(i, item, l);
                }
            }
        }
    }

    /// @dev Whether every 4-bit field of a 128-bit task is below `numClasses`, without a loop: even and odd nibbles
    ///      spread into bytes, 0x80 - C added to each byte (no carry: 15 + 126 < 256), and the top bit of a byte
    ///      set exactly when its nibble is >= C.
    function _labelsInRange(uint256 field, uint256 numClasses) internal pure returns (bool) {
        uint256 add = (0x80 - numClasses) * BYTE_ONES;
        uint256 even = field & LOW_NIBBLES;
        uint256 odd = (field >> 4) & LOW_NIBBLES;
        // slither-disable-next-line incorrect-equality (a mask of bits tested; no balance or time)
        return ((even + add) | (odd + add)) & BYTE_HIGH == 0;
    }

    /// @dev The commitment of a bundle: `ILabelMarketV2.commitHashOf`.
    function _commitHash(uint256 batchId, uint256 bundleId, address annotator, uint256[] calldata labels, bytes32 salt)
        internal
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(block.chainid, address(this), batchId, bundleId, annotator, BundlePacking.digest(labels), salt)
        );
    }

    // ------------------------------------------------------------------------------------------------
    // Joins and commits (the market's `join` and `commit`, the module's `commitAndJoin`)
    // ------------------------------------------------------------------------------------------------

    function _reputationScore(address annotator, address domain) internal view returns (int256) {
        Reputation memory r = _reputation[annotator][domain];
        return int256(uint256(r.accepted)) - int256(uint256(r.rejected)) + GOLD_WEIGHT
            * (int256(uint256(r.goldCorrect)) - int256(uint256(r.goldWrong))) - NO_SHOW_WEIGHT
            * (int256(uint256(r.unrevealed)) + int256(uint256(r.squatted)));
    }

    /// @dev Bundle size, qualification and reputation in the batch's domain (`shape`, `terms`: see `_shapes`).
    function _checkJoiner(
        uint256 batchId,
        BatchConfig storage c,
        uint256 shape,
        uint256 terms,
        uint256 maxTasks,
        address annotator
    ) internal view {
        uint256 maxBundle = (shape >> 40) & 0xFF;
        if (maxTasks == 0 || maxTasks > maxBundle) revert InvalidBundleSize(maxTasks, maxBundle);
        address qualifier = address(uint160(shape >> 56));
        if (qualifier != address(0) && !qualified[batchId][annotator]) revert NotQualified(batchId, annotator);
        int256 score = _reputationScore(annotator, qualifier == address(0) ? c.requester : qualifier);
        int256 minReputation = int64(uint64(terms >> 192));
        if (score < minReputation) revert InsufficientReputation(score, minReputation);
    }

    /// @dev Locks `stakePerTask` per task of `annotator`'s stake; returns the amount locked.
    function _lockStake(uint256 terms, uint256 size, address annotator) internal returns (uint256 need) {
        need = size * (terms & type(uint96).max);
        Account storage acct = _accounts[annotator];
        uint256 amount = acct.amount;
        uint256 unlocked = amount - acct.locked;
        if (unlocked < need) revert InsufficientStake(unlocked, need);
        uint256 minStake = (terms >> 96) & type(uint96).max;
        if (amount < minStake) revert InsufficientStake(amount, minStake);
        acct.locked += uint96(need); // need <= unlocked < 2^96
    }

    /// @dev The seed of `round`, stored by the first caller after its block exists. Seeds are only stored during
    ///      the round's commit window, so a round that has none after it never will (its permutation is the
    ///      identity, and none of its positions was committed).
    function _seedFor(uint256 batchId, uint256 round, Round storage r) internal returns (bytes32 seed) {
        seed = _seeds[batchId][round];
        if (seed != 0) return seed;
        uint256 sealBlock = r.sealBlock;
        if (sealBlock == 0) revert SeedNotReady(round, 0);
        if (block.number <= sealBlock + 1) revert SeedNotReady(round, sealBlock + 2);
        seed = blockhash(sealBlock + 1);
        if (seed == 0) revert SeedExpired(round);
        _seeds[batchId][round] = seed;
        emit SeedDrawn(batchId, round, seed);
    }

    /// @dev Commits the caller's bundle; a reserved bundle with tickets past its round's pool shrinks to the ones
    ///      that hold tasks first.
    function _commit(
        uint256 batchId,
        uint256 bundleId,
        Bundle calldata bundle,
        bytes32 commitHash,
        bytes calldata backup,
        address annotator
    ) internal returns (Batch storage b) {
        b = _batch(batchId);
        if (bundle.annotator != annotator) revert NotYourBundle(bundleId, annotator);
        _expect(batchId, bundleId, keccak256(abi.encode(bundle)), Status.Joined);
        uint256 round = bundle.round;
        Round storage r = _rounds[batchId][round];
        if (block.timestamp > r.commitEnd) revert CommitWindowClosed(round, r.commitEnd);
        _seedFor(batchId, round, r);

        LaneRound storage lr = _laneRounds[batchId][_laneKey(round, bundle.lane)];
        Bundle memory held = bundle;
        uint256 pool = lr.pool;
        if (uint256(held.first) + held.size > pool) _shrink(batchId, bundleId, held, pool);
        _markTickets(batchId, round, held.lane, held.first, held.size);
        lr.committed += held.size;
        b.state.committed += held.size;
        _bundles[batchId][bundleId] = _word(keccak256(abi.encode(held, commitHash)), Status.Committed);
        emit Committed(batchId, bundleId, annotator, commitHash, backup);
    }

    /// @dev A reserved bundle whose tickets run past its round's pool keeps the ones inside; the rest's stake, which
    ///      the reservation locked, is unlocked.
    function _shrink(uint256 batchId, uint256 bundleId, Bundle memory held, uint256 pool) internal {
        if (held.first >= pool) revert NoTaskAvailable(batchId);
        uint256 unlocked = (held.size - (pool - held.first)) * (_joinTerms[batchId] & type(uint96).max);
        held.size = uint8(pool - held.first);
        _accounts[held.annotator].locked -= uint96(unlocked);
        emit BundleShrunk(batchId, bundleId, held.size, unlocked);
    }

    /// @dev Reserves for `annotator` up to `maxTasks` tickets of `lane` in `round`, which has not opened yet (its
    ///      bundle of round - 1 was just committed): they follow the tickets reserved before, up to what round - 1
    ///      can still leave uncommitted in the lane; how many hold tasks is known when the round opens.
    function _reserve(
        uint256 batchId,
        Batch storage b,
        uint256 round,
        uint256 lane,
        uint256 maxTasks,
        address annotator
    ) internal returns (uint256 bundleId, uint256 size) {
        if (round > MAX_ROUNDS) revert TooManyRounds(MAX_ROUNDS);
        uint256 terms = _joinTerms[batchId];
        // No second join of `round` is possible: it is not open, and its only reservation by the annotator is this
        // one (from its one bundle of round - 1).
        _checkJoiner(batchId, b.config, _shapes[batchId], terms, maxTasks, annotator);
        // The round opens after this one's commit end at the earliest; it must still fit before the deadline.
        BatchConfig storage c = b.config;
        uint256 earliest = uint256(_rounds[batchId][round - 1].commitEnd) + 1 + c.roundPeriod + c.commitWindow;
        if (earliest > c.commitDeadline) revert CommitPhaseOver(c.commitDeadline);
        uint256 first;
        (first, size) = _reserveTickets(batchId, round, lane, maxTasks);
        bundleId = _recordJoin(
            batchId,
            b,
            Bundle(annotator, uint8(lane), uint16(round), uint32(first), uint8(size)),
            _lockStake(terms, size, annotator)
        );
    }

    /// @dev Stores a joined bundle (its hash, status `Joined`) and its annotator's membership of the round.
    function _recordJoin(uint256 batchId, Batch storage b, Bundle memory bundle, uint256 need)
        internal
        returns (uint256 bundleId)
    {
        bundleId = b.state.bundles++;
        _bundles[batchId][bundleId] = _word(keccak256(abi.encode(bundle)), Status.Joined);
        _members[batchId][bundle.annotator] = (uint256(bundle.round) << 8) | (uint256(bundle.lane) + 1);
        emit Joined(batchId, bundleId, bundle.annotator, bundle, need);
    }

    /// @dev Takes the next `maxTasks` (or fewer) tickets of `lane` in the unopened `round`: at most what round - 1
    ///      can still leave uncommitted in the lane, counting the tickets reserved before.
    function _reserveTickets(uint256 batchId, uint256 round, uint256 lane, uint256 maxTasks)
        internal
        returns (uint256 first, uint256 size)
    {
        LaneRound memory cur = _laneRounds[batchId][_laneKey(round - 1, lane)];
        uint256 bound = cur.pool - cur.committed;
        LaneRound storage next = _laneRounds[batchId][_laneKey(round, lane)];
        first = next.taken;
        if (first >= bound) revert NoTaskAvailable(batchId);
        size = maxTasks < bound - first ? maxTasks : bound - first;
        next.taken = uint32(first + size);
    }

    /// @dev Joins `annotator` to the batch's joinable round with up to `maxTasks` positions of its lane (the market's
    ///      `join`, and a relayed join); returns the bundle, its size and the round.
    function _join(uint256 batchId, uint256 maxTasks, address annotator)
        internal
        returns (uint256 bundleId, uint256 size, uint256 round)
    {
        Batch storage b = _batch(batchId);
        uint256 shape = _shapes[batchId];
        uint256 terms = _joinTerms[batchId];
        _checkJoiner(batchId, b.config, shape, terms, maxTasks, annotator);
        round = _joinableRound(batchId, b);
        uint256 lane = _memberLane(batchId, round, shape, annotator);
        LaneRound memory lr = _laneRound(batchId, round, lane, shape & 0xFFFFFFFF);
        // Reservations made before the round opened may have taken more tickets than its pool holds.
        if (lr.taken >= lr.pool) revert NoTaskAvailable(batchId);
        size = maxTasks < lr.pool - lr.taken ? maxTasks : lr.pool - lr.taken;
        uint256 need = _lockStake(terms, size, annotator);

        Bundle memory bundle = Bundle(annotator, uint8(lane), uint16(round), lr.taken, uint8(size));
        lr.taken += uint32(size);
        lr.open = true;
        _laneRounds[batchId][_laneKey(round, lane)] = lr;
        bundleId = _recordJoin(batchId, b, bundle, need);
        _takePositions(batchId, round, size);
    }

    /// @dev The annotator's lane (picked at its first join in the batch); one join per round.
    function _memberLane(uint256 batchId, uint256 round, uint256 shape, address annotator)
        internal
        view
        returns (uint256 lane)
    {
        uint256 member = _members[batchId][annotator];
        if (member >> 8 == round) revert AlreadyJoined(batchId, round);
        lane = member & 0xff;
        lane = lane == 0 ? _pickLane(batchId, round, (shape >> 32) & 0xFF, shape & 0xFFFFFFFF) : lane - 1;
    }

    /// @dev Takes `size` positions off the round; the join that fills the last one seals the round (its seed is the
    ///      next block's hash).
    function _takePositions(uint256 batchId, uint256 round, uint256 size) internal {
        Round storage r = _rounds[batchId][round];
        uint32 left = r.free - uint32(size);
        r.free = left;
        // slither-disable-next-line incorrect-equality (a position count, no balance)
        if (left == 0) {
            r.sealBlock = uint64(block.number);
            emit RoundSealed(batchId, round, block.number);
        }
    }

    /// @dev The round a join goes to: the current one while it takes joins, else the next one, opened here once
    ///      the current round's commits are over (so its pool, the positions never committed, is final).
    function _joinableRound(uint256 batchId, Batch storage b) internal returns (uint256 round) {
        round = b.state.round;
        Round memory r = _rounds[batchId][round];
        // slither-disable-next-line incorrect-equality (zero: not sealed yet; a block number, no balance)
        if (r.sealBlock == 0 && block.timestamp <= r.joinEnd) return round;
        if (block.timestamp <= r.commitEnd) revert RoundClosed(round, uint256(r.commitEnd) + 1);

        return _openRound(batchId, b, round + 1);
    }

    /// @dev Opens round `next`: each lane's pool is what the previous round left uncommitted; the tickets reserved
    ///         in it before (`commitAndJoin`) come first. A round whose pool the reservations already fill is sealed
    ///         as it opens.
    function _openRound(uint256 batchId, Batch storage b, uint256 next) internal returns (uint256) {
        if (next > MAX_ROUNDS) revert TooManyRounds(MAX_ROUNDS);
        BatchConfig storage c = b.config;
        uint256 joinEnd = block.timestamp + c.roundPeriod;
        uint256 commitEnd = joinEnd + c.commitWindow;
        if (commitEnd > c.commitDeadline) revert CommitPhaseOver(c.commitDeadline);
        // slither-disable-next-line uninitialized-local (zeroed accumulators are intended)
        uint256 free;
        // slither-disable-next-line uninitialized-local (zeroed accumulators are intended)
        uint256 reserved;
        for (uint256 lane; lane < c.replicas; ++lane) {
            (uint256 pool, uint256 taken) = _openLane(batchId, next, lane, c.numTasks);
            free += pool > taken ? pool - taken : 0;
            reserved += taken;
        }
        // slither-disable-next-line incorrect-equality (position counts, no balance)
        if (free == 0 && reserved == 0) revert NoTaskAvailable(batchId);
        _rounds[batchId][next] = Round(uint40(joinEnd), uint40(commitEnd), 0, uint32(free));
        b.state.round = uint16(next);
        emit RoundOpened(batchId, next, joinEnd, commitEnd, free);
        if (free == 0) {
            _rounds[batchId][next].sealBlock = uint64(block.number);
            emit RoundSealed(batchId, next, block.number);
        }
        return next;
    }

    /// @dev Opens `lane` in round `next` with the pool round next - 1 left uncommitted; keeps its reservations.
    function _openLane(uint256 batchId, uint256 next, uint256 lane, uint256 numTasks)
        internal
        returns (uint256 pool, uint256 taken)
    {
        LaneRound memory prev = _laneRound(batchId, next - 1, lane, numTasks);
        LaneRound storage lr = _laneRounds[batchId][_laneKey(next, lane)];
        pool = prev.pool - prev.committed;
        taken = lr.taken;
        lr.pool = uint32(pool);
        lr.open = true;
    }

    /// @dev A new member's lane: the one with the most free positions in `round` (lowest index on a tie).
    function _pickLane(uint256 batchId, uint256 round, uint256 replicas, uint256 numTasks)
        internal
        view
        returns (uint256 lane)
    {
        // slither-disable-next-line uninitialized-local (a zeroed maximum is intended)
        uint256 best;
        for (uint256 j; j < replicas; ++j) {
            LaneRound memory lr = _laneRound(batchId, round, j, numTasks);
            uint256 free = lr.pool > lr.taken ? lr.pool - lr.taken : 0;
            if (free > best) (best, lane) = (free, j);
        }
    }

    /// @dev Adds `amount` to `annotator`'s stake; the caller moves the tokens in.
    function _addStake(address annotator, uint256 amount) internal {
        Account storage a = _accounts[annotator];
        a.amount = SafeCast.toUint96(uint256(a.amount) + amount);
        emit Staked(annotator, amount);
    }
}
