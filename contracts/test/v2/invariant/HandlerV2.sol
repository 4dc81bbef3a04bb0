// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "../../utils/Base.sol";
import {ConcordToken} from "../../../ConcordToken.sol";
import {LabelMarketV2} from "../../../LabelMarketV2.sol";
import {
    ILabelMarketV2Types,
    ILabelMarketV2Optimistic,
    ILabelMarketV2Relay
} from "../../../interfaces/ILabelMarketV2.sol";
import {CreditTree} from "../../utils/CreditTree.sol";
import {LabelPacking} from "../../../libraries/LabelPacking.sol";

/// @notice Drives LabelMarketV2 through random but valid sequences: joins over several rounds, seals, seeds,
///         commits with ~10 % wrong labels, reveals (or not), expiries, settlements of random task ranges,
///         reviews, refunds, collects. Each action returns early when its step is not valid now, so the campaign
///         runs with `fail_on_revert = true`. Ghosts record what the handler knows independently of the market.
/// @dev Time and block height are kept here and re-applied at the start of every action (forge does not keep
///      `vm.warp`/`vm.roll` between calls reliably).
contract HandlerV2 is Base {
    bytes32 internal constant _RELAYED_JOIN_TYPEHASH =
        keccak256("RelayedJoin(uint256 batchId,uint256 round,uint256 maxTasks,uint256 stake)");
    bytes32 internal constant _RELAYED_COMMIT_TYPEHASH = keccak256(
        "RelayedCommit(uint256 batchId,uint256 bundleId,bytes32 commitHash,bytes32 backupHash,uint256 maxTasks)"
    );

    using LabelPacking for uint256;

    LabelMarketV2 public immutable market;
    ConcordToken public immutable token;
    address public immutable treasury;
    address public immutable reviewer;
    address public immutable requester;

    address[] public annotators;
    uint256[] public batches;
    uint256 public currentTime;
    uint256 public currentBlock;

    struct Held {
        uint256 batchId;
        uint256 id;
        ILabelMarketV2Types.Bundle bundle;
        uint256[] tasks;
        uint256[] words;
        bytes32 salt;
        uint8 status; // 1 joined, 2 committed, 3 revealed, 4 expired
    }

    Held[] internal _held;

    // ghosts
    mapping(uint256 batchId => mapping(uint256 laneTask => uint256 heldPlusOne)) public holder;
    mapping(uint256 batchId => mapping(address annotator => uint256 lanePlusOne)) public laneOf;
    mapping(address annotator => uint256) public ghostLockedTasks;
    /// @dev Settlements that carried reveals (the invariant run checks it happened).
    uint256 public ghostCarriedSettles;
    /// @dev Commits that shrank a reserved bundle, and rounds opened by `seal` (the run checks both happened).
    uint256 public ghostShrunk;
    uint256 public ghostOpenedBySeal;
    /// @dev Commits (with joins) sent by a relayer with the annotator's signature (`relayCommits`).
    uint256 public ghostRelayed;
    /// @dev Joins sent by a relayer with the annotator's signature (`relayJoins`).
    uint256 public ghostRelayedJoins;
    /// @dev Set when `commitAndJoin` reserved another size than the handler's mirror of the rules predicted.
    bool public sizeMismatch;
    bool public doubleHold;
    bool public laneChanged;
    uint256 public calls;
    mapping(bytes4 => uint256) public hits;

    // optimistic settlement (batches without a reviewer): the credits of each batch's proposal, the bundle a wrong
    // proposal got wrong (+1; 0 for an honest one), and what the campaign saw
    mapping(uint256 batchId => uint256[]) internal _credits;
    mapping(uint256 batchId => uint256) public wrongBundlePlusOne;
    mapping(uint256 batchId => bool) public claimedAll;
    /// @dev Sum over credits of final proposals not claimed yet of earned + redistributed - slashed: tokens the
    ///      market holds for claims to come beyond what accounts and claimables show.
    int256 public ghostPendingClaims;
    uint256 public ghostProposals;
    uint256 public ghostVoided;
    uint256 public ghostFinalized;
    uint256 public ghostClaimed;
    bool public honestVoided;
    bool public wrongSurvived;
    /// @dev Set if a `claimAll` paid annotators anything but the rewards and coherence shares its final proposal's
    ///      credits hold (measured on the annotators' wallets and claimable balances).
    bool public claimMiscredited;

    constructor(LabelMarketV2 m, ConcordToken t, address treasury_, address reviewer_, address requester_) {
        market = m;
        token = t;
        treasury = treasury_;
        reviewer = reviewer_;
        requester = requester_;
        currentTime = vm.getBlockTimestamp();
        currentBlock = vm.getBlockNumber();
        for (uint256 i; i < 6; ++i) {
            annotators.push(vm.addr(0xE000 + i));
        }
    }

    function addBatch(uint256 id) external {
        batches.push(id);
    }

    function annotatorCount() external view returns (uint256) {
        return annotators.length;
    }

    function batchCount() external view returns (uint256) {
        return batches.length;
    }

    function heldCount() external view returns (uint256) {
        return _held.length;
    }

    function heldStatus(uint256 i) external view returns (uint256 batchId, uint256 lane, uint256 size, uint8 status) {
        Held storage h = _held[i];
        return (h.batchId, h.bundle.lane, h.bundle.size, h.status);
    }

    modifier tick(bytes4 sel) {
        vm.warp(currentTime);
        vm.roll(currentBlock);
        ++calls;
        ++hits[sel];
        _;
    }

    // ------------------------------------------------------------------------------------------------
    // actions
    // ------------------------------------------------------------------------------------------------

    function advance(uint256 secs, uint256 blocks) external tick(this.advance.selector) {
        currentTime += bound(secs, 1, 3 hours);
        currentBlock += bound(blocks, 1, 20);
        vm.warp(currentTime);
        vm.roll(currentBlock);
    }

    function join(uint256 aSeed, uint256 bSeed, uint256 mSeed) external tick(this.join.selector) {
        uint256 id = batches[bSeed % batches.length];
        address a = annotators[aSeed % annotators.length];
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        // The low half of the seed is the size; its top bit picks a relayed join (`_relayJoin`).
        uint256 m = bound(mSeed & type(uint128).max, 1, b.config.maxBundle);
        if (market.reputationScore(a, market.domainOf(id)) < b.config.minReputation) return;
        if (!_canJoin(id, a, b, m)) return;
        uint256 bundleId;
        uint256 size;
        if (mSeed >> 255 == 0) {
            vm.prank(a);
            (bundleId, size) = market.join(id, m);
        } else {
            (bundleId, size) = _relayJoin(id, a, m);
        }
        (, uint256 lane, uint256 round) = market.memberOf(id, a);
        if (laneOf[id][a] == 0) laneOf[id][a] = lane + 1;
        else if (laneOf[id][a] != lane + 1) laneChanged = true;
        uint256 taken = market.getLaneRound(id, round, lane).taken;
        Held storage h = _held.push();
        h.batchId = id;
        h.id = bundleId;
        h.bundle = ILabelMarketV2Types.Bundle(a, uint8(lane), uint16(round), uint32(taken - size), uint8(size));
        h.salt = keccak256(abi.encode(id, bundleId));
        h.status = 1;
        ghostLockedTasks[a] += size;
    }

    /// @dev Mirrors the market's join rules so the call is only made when it must succeed.
    function _canJoin(uint256 id, address a, ILabelMarketV2Types.Batch memory b, uint256 m)
        internal
        view
        returns (bool)
    {
        if (currentTime > b.config.commitDeadline) return false;
        uint256 round = b.state.round;
        ILabelMarketV2Types.Round memory r = market.getRound(id, round);
        bool open = r.sealBlock == 0 && currentTime <= r.joinEnd;
        if (!open) {
            // The next round opens only after this one's commits, and must end its own commits in time.
            if (currentTime <= r.commitEnd) return false;
            if (currentTime + b.config.roundPeriod + b.config.commitWindow > b.config.commitDeadline) return false;
            if (round + 1 > 255) return false;
            uint256 free;
            for (uint256 j; j < b.config.replicas; ++j) {
                free += _nextFree(id, round, j);
            }
            if (free == 0) return false;
            round += 1;
        }
        (bool joined, uint256 lane, uint256 last) = market.memberOf(id, a);
        if (joined && last == round) return false;
        ILabelMarketV2Types.Account memory acct = market.accountOf(a);
        if (acct.amount < b.config.minStake) return false;
        if (joined) {
            if (!open) {
                uint256 free = _nextFree(id, round - 1, lane);
                if (free == 0) return false;
                m = m < free ? m : free;
            } else {
                ILabelMarketV2Types.LaneRound memory lr = market.getLaneRound(id, round, lane);
                if (lr.taken >= lr.pool) return false; // reservations may exceed the pool
                m = m < lr.pool - lr.taken ? m : lr.pool - lr.taken;
            }
        }
        // A newcomer's lane has the most free positions; at most m tasks either way.
        return uint256(acct.amount) - acct.locked >= m * b.config.stakePerTask;
    }

    /// @dev Free positions of `lane` in round `round + 1` when it opens: what round `round` leaves uncommitted,
    ///      after the tickets reserved in it.
    function _nextFree(uint256 id, uint256 round, uint256 lane) internal view returns (uint256) {
        ILabelMarketV2Types.LaneRound memory prev = market.getLaneRound(id, round, lane);
        uint256 pool = prev.pool - prev.committed;
        uint256 taken = market.getLaneRound(id, round + 1, lane).taken;
        return pool > taken ? pool - taken : 0;
    }

    /// @dev Seals the current round or draws its seed; past its commit end, opens the next round (`seal`) when
    ///      that must succeed.
    function sealAndSeed(uint256 bSeed) external tick(this.sealAndSeed.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        uint256 round = b.state.round;
        ILabelMarketV2Types.Round memory r = market.getRound(id, round);
        if (currentTime > r.commitEnd) {
            if (round + 1 > 255) return;
            if (currentTime + b.config.roundPeriod + b.config.commitWindow > b.config.commitDeadline) return;
            uint256 any;
            for (uint256 j; j < b.config.replicas; ++j) {
                ILabelMarketV2Types.LaneRound memory prev = market.getLaneRound(id, round, j);
                any += prev.pool - prev.committed + market.getLaneRound(id, round + 1, j).taken;
            }
            if (any == 0) return;
            market.seal(id);
            ++ghostOpenedBySeal;
            return;
        }
        if (market.seedOf(id, round) != 0) return;
        if (r.sealBlock == 0) {
            if (currentTime <= r.joinEnd) return;
            market.seal(id);
            r.sealBlock = uint64(currentBlock);
        }
        currentBlock = uint256(r.sealBlock) + 2;
        vm.roll(currentBlock);
        vm.setBlockhash(uint256(r.sealBlock) + 1, keccak256(abi.encode("seed", id, round, r.sealBlock)));
        market.drawSeed(id, round);
    }

    function commit(uint256 hSeed, uint256 wrongSeed) external tick(this.commit.selector) {
        if (_held.length == 0) return;
        Held storage h = _held[hSeed % _held.length];
        if (h.status != 1) return;
        uint256 id = h.batchId;
        ILabelMarketV2Types.Round memory r = market.getRound(id, h.bundle.round);
        if (currentTime > r.commitEnd || market.seedOf(id, h.bundle.round) == 0) return;
        uint256 held = _heldSize(h);
        if (held == 0) return; // a reservation past the pool: only `expire` releases it
        ILabelMarketV2Types.Bundle memory joined = h.bundle;
        _label(h, wrongSeed, held);
        bytes32 ch = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
        vm.prank(h.bundle.annotator);
        market.commit(id, h.id, joined, ch, "");
        _committed(h, held);
    }

    /// @dev How many of `h`'s tickets hold tasks: those inside its round's pool (all, unless reserved past it).
    function _heldSize(Held storage h) internal view returns (uint256) {
        uint256 pool = market.getLaneRound(h.batchId, h.bundle.round, h.bundle.lane).pool;
        uint256 first = h.bundle.first;
        if (first >= pool) return 0;
        return first + h.bundle.size <= pool ? h.bundle.size : pool - first;
    }

    /// @dev Books a commit of `h` with `held` tasks: a shrunk bundle is its shrunk self from here on.
    function _committed(Held storage h, uint256 held) internal {
        if (held < h.bundle.size) {
            ghostLockedTasks[h.bundle.annotator] -= h.bundle.size - held;
            h.bundle.size = uint8(held);
            ++ghostShrunk;
        }
        h.status = 2;
        uint256 id = h.batchId;
        uint256 index = _held.length; // marker: the position of h is found below
        for (uint256 i; i < _held.length; ++i) {
            if (_held[i].batchId == id && _held[i].id == h.id) index = i;
        }
        for (uint256 m; m < h.tasks.length; ++m) {
            uint256 key = (uint256(h.bundle.lane) << 32) | h.tasks[m];
            if (holder[id][key] != 0) doubleHold = true;
            holder[id][key] = index + 1;
        }
    }

    /// @dev `commit` of a joined bundle that also reserves up to m tickets of its lane in the next round, when the
    ///      market must accept both.
    function commitAndJoin(uint256 hSeed, uint256 wrongSeed, uint256 mSeed) external tick(this.commitAndJoin.selector) {
        if (_held.length == 0) return;
        Held storage h = _held[hSeed % _held.length];
        if (h.status != 1) return;
        uint256 id = h.batchId;
        if (currentTime > market.getRound(id, h.bundle.round).commitEnd) return;
        if (market.seedOf(id, h.bundle.round) == 0) return;
        uint256 held = _heldSize(h);
        if (held == 0) return;
        // The low half of the seed is the size; its top bit picks a relayed commit (`_relay`).
        uint256 m = bound(mSeed & type(uint128).max, 1, market.getBatch(id).config.maxBundle);
        (bool ok, uint256 first, uint256 size) = _reservation(h, held, m);
        if (!ok) return;
        ILabelMarketV2Types.Bundle memory joined = h.bundle;
        _label(h, wrongSeed, held);
        bytes32 ch = market.commitHashOf(id, h.id, joined.annotator, h.words, h.salt);
        uint256 nextId;
        uint256 got;
        if (mSeed >> 255 == 0) {
            vm.prank(joined.annotator);
            (nextId, got) = market.commitAndJoin(id, h.id, joined, ch, "", m);
        } else {
            (nextId, got) = _relay(id, h.id, joined, ch, m, first);
        }
        if (got != size) sizeMismatch = true;
        _committed(h, held);
        Held storage n = _held.push();
        n.batchId = id;
        n.id = nextId;
        n.bundle =
            ILabelMarketV2Types.Bundle(joined.annotator, joined.lane, joined.round + 1, uint32(first), uint8(size));
        n.salt = keccak256(abi.encode(id, nextId));
        n.status = 1;
        ghostLockedTasks[joined.annotator] += size;
    }

    /// @dev The same commit and join, signed by the annotator and sent by a relayer (`relayCommits`); the reserved
    ///      bundle is the batch's last, its size what the lane's counter moved by.
    function _relay(
        uint256 id,
        uint256 bundleId,
        ILabelMarketV2Types.Bundle memory joined,
        bytes32 ch,
        uint256 m,
        uint256 first
    ) internal returns (uint256 nextId, uint256 got) {
        ILabelMarketV2Types.RelayedCommit[] memory rcs = new ILabelMarketV2Types.RelayedCommit[](1);
        rcs[0] = ILabelMarketV2Types.RelayedCommit(uint32(bundleId), uint8(m), joined, ch, "", "");
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                market.domainSeparator(),
                keccak256(abi.encode(_RELAYED_COMMIT_TYPEHASH, id, bundleId, ch, keccak256(""), m))
            )
        );
        (uint8 v, bytes32 r, bytes32 sig) = vm.sign(_keyOf(joined.annotator), digest);
        rcs[0].signature = abi.encodePacked(r, sig, v);
        vm.prank(address(0x5E1A7));
        _relayer().relayCommits(id, rcs);
        ++ghostRelayed;
        nextId = market.getBatch(id).state.bundles - 1;
        got = market.getLaneRound(id, joined.round + 1, joined.lane).taken - first;
    }

    /// @dev The same join, signed by the annotator and sent by a relayer (`relayJoins`) with one token of stake
    ///      pulled from its allowance: the bundle is the batch's last, its size what the lane's counter moved by.
    function _relayJoin(uint256 id, address a, uint256 m) internal returns (uint256 bundleId, uint256 size) {
        uint256 round = market.getBatch(id).state.round;
        ILabelMarketV2Types.Round memory r = market.getRound(id, round);
        if (r.sealBlock != 0 || currentTime > r.joinEnd) ++round; // `_canJoin`: the next round opens
        uint256[] memory before = _takens(id, round);
        ILabelMarketV2Types.RelayedJoin[] memory rjs = _signedJoin(id, a, m, round);
        vm.prank(address(0x5E1A7));
        _relayer().relayJoins(id, rjs);
        ++ghostRelayedJoins;
        bundleId = market.getBatch(id).state.bundles - 1;
        (, uint256 lane,) = market.memberOf(id, a);
        size = market.getLaneRound(id, round, lane).taken - before[lane];
    }

    /// @dev Each lane's `taken` counter in `round`.
    function _takens(uint256 id, uint256 round) internal view returns (uint256[] memory t) {
        t = new uint256[](market.getBatch(id).config.replicas);
        for (uint256 j; j < t.length; ++j) {
            t[j] = market.getLaneRound(id, round, j).taken;
        }
    }

    /// @dev `a`'s join of `m` tasks in `round`, staking one token from its allowance, signed with its key.
    function _signedJoin(uint256 id, address a, uint256 m, uint256 round)
        internal
        view
        returns (ILabelMarketV2Types.RelayedJoin[] memory rjs)
    {
        rjs = new ILabelMarketV2Types.RelayedJoin[](1);
        rjs[0] = ILabelMarketV2Types.RelayedJoin(a, uint8(m), 1e18, 0, 0, 0, 0, "");
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                market.domainSeparator(),
                keccak256(abi.encode(_RELAYED_JOIN_TYPEHASH, id, round, m, uint256(1e18)))
            )
        );
        (uint8 v, bytes32 rr, bytes32 sig) = vm.sign(_keyOf(a), digest);
        rjs[0].signature = abi.encodePacked(rr, sig, v);
    }

    function _relayer() internal view returns (ILabelMarketV2Relay) {
        return ILabelMarketV2Relay(address(market));
    }

    function _keyOf(address a) internal view returns (uint256) {
        for (uint256 i; i < annotators.length; ++i) {
            if (annotators[i] == a) return 0xE000 + i;
        }
        revert("not an annotator");
    }

    /// @dev Mirrors the market's reservation rules: whether `h`'s commit (of `held` tasks) can reserve up to `m`
    ///      tickets of the next round, and which.
    function _reservation(Held storage h, uint256 held, uint256 m)
        internal
        view
        returns (bool ok, uint256 first, uint256 size)
    {
        uint256 id = h.batchId;
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        if (h.bundle.round + 1 > 255) return (false, 0, 0);
        uint256 commitEnd = market.getRound(id, h.bundle.round).commitEnd;
        if (commitEnd + 1 + b.config.roundPeriod + b.config.commitWindow > b.config.commitDeadline) {
            return (false, 0, 0);
        }
        address a = h.bundle.annotator;
        if (market.reputationScore(a, market.domainOf(id)) < b.config.minReputation) return (false, 0, 0);
        ILabelMarketV2Types.LaneRound memory cur = market.getLaneRound(id, h.bundle.round, h.bundle.lane);
        uint256 limit = cur.pool - cur.committed - held;
        first = market.getLaneRound(id, h.bundle.round + 1, h.bundle.lane).taken;
        if (first >= limit) return (false, 0, 0);
        size = m < limit - first ? m : limit - first;
        ILabelMarketV2Types.Account memory acct = market.accountOf(a);
        uint256 unlocked = uint256(acct.amount) - acct.locked + (h.bundle.size - held) * b.config.stakePerTask;
        ok = unlocked >= size * b.config.stakePerTask;
    }

    /// @dev The bundle's tasks from the market and labels: the truth with ~10 % of them shifted.
    function _label(Held storage h, uint256 wrongSeed, uint256 held) internal {
        ILabelMarketV2Types.BatchConfig memory c = market.getBatch(h.batchId).config;
        h.tasks = new uint256[](held);
        h.words = new uint256[]((held + 1) / 2);
        for (uint256 m; m < held; ++m) {
            uint256 t = market.taskAt(h.batchId, h.bundle.lane, h.bundle.round, uint256(h.bundle.first) + m);
            h.tasks[m] = t;
            uint256 labels;
            for (uint256 i; i < c.taskSize && t * c.taskSize + i < c.numItems; ++i) {
                uint256 truth = (t * 7 + i * 3) % c.numClasses;
                bool wrong = uint256(keccak256(abi.encode(wrongSeed, m, i))) % 10 == 0;
                labels = labels.set(i, wrong ? (truth + 1) % c.numClasses : truth);
            }
            h.words[m / 2] |= labels << (128 * (m % 2));
        }
    }

    function reveal(uint256 hSeed) external tick(this.reveal.selector) {
        if (_held.length == 0) return;
        Held storage h = _held[hSeed % _held.length];
        if (h.status != 2) return;
        ILabelMarketV2Types.Batch memory b = market.getBatch(h.batchId);
        if (currentTime > b.config.revealDeadline) return;
        bool allCommitted = b.state.committed == uint256(b.config.numTasks) * b.config.replicas;
        if (currentTime <= b.config.commitDeadline && !allCommitted) return;
        vm.prank(h.bundle.annotator);
        market.reveal(h.batchId, h.id, h.bundle, h.words, h.salt);
        h.status = 3;
    }

    function expire(uint256 hSeed) external tick(this.expire.selector) {
        if (_held.length == 0) return;
        Held storage h = _held[hSeed % _held.length];
        if (h.status != 1) return;
        ILabelMarketV2Types.Batch memory b = market.getBatch(h.batchId);
        if (h.bundle.round > b.state.round) {
            // Reserved in a round that never opened: released once none can open any more.
            if (currentTime <= b.config.commitDeadline) return;
        } else if (currentTime <= market.getRound(h.batchId, h.bundle.round).commitEnd) {
            return;
        }
        market.expire(h.batchId, h.id, h.bundle);
        h.status = 4;
        ghostLockedTasks[h.bundle.annotator] -= h.bundle.size;
    }

    function settle(uint256 bSeed, uint256 fromSeed, uint256 lenSeed) external tick(this.settle.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        if (currentTime <= b.config.revealDeadline) return; // early settlement is covered by the unit tests
        if (_opt().proposalOf(id).status != ILabelMarketV2Types.ProposalStatus.None) return;
        uint256 numTasks = b.config.numTasks;
        uint256 from = bound(fromSeed, 0, numTasks - 1);
        uint256 len = bound(lenSeed, 1, numTasks - from);
        uint256 n;
        uint256[] memory tasks = new uint256[](len);
        for (uint256 t = from; t < from + len; ++t) {
            if (!market.isSettled(id, t)) tasks[n++] = t;
        }
        if (n == 0) return;
        assembly ("memory-safe") {
            mstore(tasks, n)
        }
        ILabelMarketV2Types.BundleProof[] memory ps = _proofs(id, false);
        market.settle(id, tasks, ps);
        _unlocked(id, tasks, n);
    }

    /// @dev Early settlement with every reveal carried: once every position is committed, before the reveal
    ///      deadline, the settler supplies each committed bundle's labels and salt and settles every open task.
    function settleCarrying(uint256 bSeed) external tick(this.settleCarrying.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        if (currentTime > b.config.revealDeadline) return;
        if (_opt().proposalOf(id).status != ILabelMarketV2Types.ProposalStatus.None) return;
        if (b.state.committed != uint256(b.config.numTasks) * b.config.replicas) return;
        if (b.state.goldRevealed < b.config.goldCount) return;
        uint256 n;
        uint256[] memory tasks = new uint256[](b.config.numTasks);
        for (uint256 t; t < tasks.length; ++t) {
            if (!market.isSettled(id, t)) tasks[n++] = t;
        }
        if (n == 0) return;
        assembly ("memory-safe") {
            mstore(tasks, n)
        }
        market.settle(id, tasks, _proofs(id, true));
        ++ghostCarriedSettles;
        for (uint256 i; i < _held.length; ++i) {
            if (_held[i].batchId == id && _held[i].status == 2) _held[i].status = 3;
        }
        _unlocked(id, tasks, n);
    }

    /// @dev Unlock ghost: each committed bundle releases one task's stake per settled task it holds.
    function _unlocked(uint256 id, uint256[] memory tasks, uint256 n) internal {
        for (uint256 i; i < _held.length; ++i) {
            Held storage h = _held[i];
            if (h.batchId != id || h.status < 2 || h.status > 3) continue;
            for (uint256 m; m < h.tasks.length; ++m) {
                for (uint256 k; k < n; ++k) {
                    if (tasks[k] == h.tasks[m]) ghostLockedTasks[h.bundle.annotator] -= 1;
                }
            }
        }
    }

    /// @dev Every committed or revealed bundle of batch `id`; with `carry`, the committed ones carry their reveal.
    function _proofs(uint256 id, bool carry) internal view returns (ILabelMarketV2Types.BundleProof[] memory ps) {
        uint256 count;
        for (uint256 i; i < _held.length; ++i) {
            if (_held[i].batchId == id && (_held[i].status == 2 || _held[i].status == 3)) ++count;
        }
        ps = new ILabelMarketV2Types.BundleProof[](count);
        uint256 j;
        for (uint256 i; i < _held.length; ++i) {
            Held storage h = _held[i];
            if (h.batchId != id || (h.status != 2 && h.status != 3)) continue;
            ps[j].id = uint32(h.id);
            ps[j].positions = type(uint32).max;
            ps[j].bundle = h.bundle;
            if (h.status == 3 || carry) ps[j].labels = h.words;
            if (carry) {
                ps[j].salt = h.salt;
            } else if (h.status == 2) {
                ps[j].commitHash = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
            }
            ++j;
        }
    }

    function resolve(uint256 bSeed, uint256 itemSeed, uint256 labelSeed) external tick(this.resolve.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        if (b.config.reviewer == address(0) || currentTime > b.config.reviewDeadline) return;
        uint256 item = bound(itemSeed, 0, b.config.numItems - 1);
        if (!market.isSettled(id, item / b.config.taskSize) || market.isResolved(id, item)) return;
        ILabelMarketV2Types.BundleProof[] memory ps = _proofs(id, false);
        vm.prank(reviewer);
        // Decided items revert ItemNotInReview; the handler does not re-derive consensus to predict that.
        try market.resolve(id, item, uint8(labelSeed % b.config.numClasses), ps) {} catch {}
    }

    function refund(uint256 bSeed) external tick(this.refund.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        if (currentTime <= b.config.reviewDeadline || b.state.refunded) return;
        if (b.state.tasksSettled != b.config.numTasks) return;
        market.refund(id);
    }

    function collect(uint256 aSeed) external tick(this.collect.selector) {
        address a = aSeed % 8 == 7 ? treasury : annotators[aSeed % annotators.length];
        if (market.claimable(a, address(token)) == 0) return;
        vm.prank(a);
        market.collect(address(token));
    }

    // ------------------------------------------------------------------------------------------------
    // optimistic settlement
    // ------------------------------------------------------------------------------------------------

    function _opt() internal view returns (ILabelMarketV2Optimistic) {
        return ILabelMarketV2Optimistic(address(market));
    }

    function _allTasks(uint256 n) internal pure returns (uint256[] memory tasks) {
        tasks = new uint256[](n);
        for (uint256 t; t < n; ++t) {
            tasks[t] = t;
        }
    }

    /// @dev The requester proposes the credits `tally` gives — or, one time in three, with one committed bundle's
    ///      credit off by one disagreement.
    function propose(uint256 bSeed, uint256 wrongSeed) external tick(this.propose.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        if (b.config.reviewer != address(0) || b.state.tasksSettled != 0) return;
        if (_opt().proposalOf(id).status != ILabelMarketV2Types.ProposalStatus.None) return;
        // After the reveal deadline with what was revealed; before it, once every position is committed, carrying
        // every reveal (as the requester's client does).
        bool early = currentTime <= b.config.revealDeadline;
        if (early && b.state.committed != uint256(b.config.numTasks) * b.config.replicas) return;
        ILabelMarketV2Types.BundleProof[] memory ps = _proofs(id, early);
        uint256[] memory t = _opt().tally(id, _allTasks(b.config.numTasks), ps); // carries the reveals if early
        uint256[] memory credits = new uint256[](2 * b.state.bundles);
        for (uint256 bi; bi < ps.length; ++bi) {
            uint256 i = ps[bi].id;
            credits[2 * i] = (uint256(uint160(ps[bi].bundle.annotator)) << 96) | t[2 * bi];
            credits[2 * i + 1] = t[2 * bi + 1];
        }
        wrongBundlePlusOne[id] = 0;
        if (wrongSeed % 3 == 0 && ps.length != 0) {
            uint256 w = ps[(wrongSeed / 3) % ps.length].id;
            credits[2 * w] += 1 << 32;
            wrongBundlePlusOne[id] = w + 1;
        }
        vm.prank(requester);
        _opt().propose(id, ps, credits);
        _credits[id] = credits;
        ++ghostProposals;
        for (uint256 i; i < _held.length && early; ++i) {
            if (_held[i].batchId == id && _held[i].status == 2) _held[i].status = 3;
        }
    }

    /// @dev An annotator challenges the credit a wrong proposal got wrong, or any credit: exactly the wrong one voids.
    function challenge(uint256 bSeed, uint256 pickSeed) external tick(this.challenge.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Proposal memory p = _opt().proposalOf(id);
        if (p.status != ILabelMarketV2Types.ProposalStatus.Live || currentTime > p.challengeEnd) return;
        uint256[] memory credits = _credits[id];
        uint256 n = credits.length / 2;
        if (n == 0) return;
        uint256 w = wrongBundlePlusOne[id];
        uint256 target = w != 0 && pickSeed % 2 == 0 ? w - 1 : (pickSeed / 2) % n;
        bytes32[] memory proof = CreditTree.proofOf(CreditTree.leavesOf(id, credits), target);
        uint256[] memory tasks = _allTasks(market.getBatch(id).config.numTasks);
        ILabelMarketV2Types.BundleProof[] memory ps = _proofs(id, false);
        vm.prank(annotators[pickSeed % annotators.length]);
        try _opt().challenge(id, target, credits[2 * target], credits[2 * target + 1], proof, tasks, ps) {
            ++ghostVoided;
            if (target + 1 != w) honestVoided = true;
            wrongBundlePlusOne[id] = 0;
            delete _credits[id];
        } catch {
            if (target + 1 == w) wrongSurvived = true;
        }
    }

    function finalize(uint256 bSeed) external tick(this.finalize.selector) {
        uint256 id = batches[bSeed % batches.length];
        ILabelMarketV2Types.Proposal memory p = _opt().proposalOf(id);
        if (p.status != ILabelMarketV2Types.ProposalStatus.Live || currentTime <= p.challengeEnd) return;
        _opt().finalize(id);
        ++ghostFinalized;
        ghostPendingClaims += _pending(id);
    }

    function claimAll(uint256 bSeed) external tick(this.claimAll.selector) {
        uint256 id = batches[bSeed % batches.length];
        if (_opt().proposalOf(id).status != ILabelMarketV2Types.ProposalStatus.Final || claimedAll[id]) return;
        ghostPendingClaims -= _pending(id);
        uint256 before = _annotatorsPaid();
        _opt().claimAll(id, _credits[id]);
        if (_annotatorsPaid() - before != _pendingCredit(id)) claimMiscredited = true;
        claimedAll[id] = true;
        ++ghostClaimed;
        for (uint256 i; i < _held.length; ++i) {
            Held storage h = _held[i];
            if (h.batchId == id && (h.status == 2 || h.status == 3)) {
                ghostLockedTasks[h.bundle.annotator] -= h.bundle.size;
            }
        }
    }

    /// @dev What annotators hold in the token, in their wallets or claimable (a claim pays them directly).
    function _annotatorsPaid() internal view returns (uint256 sum) {
        for (uint256 i; i < annotators.length; ++i) {
            sum += market.claimable(annotators[i], address(token)) + token.balanceOf(annotators[i]);
        }
    }

    /// @dev earned + redistributed over a proposal's credits (rewards of 1 token per label).
    function _pendingCredit(uint256 id) internal view returns (uint256 sum) {
        uint256[] storage credits = _credits[id];
        for (uint256 i; i + 1 < credits.length; i += 2) {
            uint256 c = credits[i];
            sum += (((c >> 16) & 0xFFFF) + ((c >> 48) & 0xFFFF)) * 1e18 + (credits[i + 1] & type(uint128).max);
        }
    }

    /// @dev earned + redistributed - slashed over a proposal's credits (rewards of 1 token per label).
    function _pending(uint256 id) internal view returns (int256 sum) {
        uint256[] storage credits = _credits[id];
        for (uint256 i; i + 1 < credits.length; i += 2) {
            uint256 c = credits[i];
            uint256 earned = (((c >> 16) & 0xFFFF) + ((c >> 48) & 0xFFFF)) * 1e18;
            sum += int256(earned + (credits[i + 1] & type(uint128).max)) - int256(credits[i + 1] >> 128);
        }
    }
}
