// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Base} from "../utils/Base.sol";
import {TestMerkle} from "../utils/TestMerkle.sol";
import {MockERC20} from "../utils/Mocks.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {LabelMarket} from "../../LabelMarket.sol";
import {ILabelMarket} from "../../interfaces/ILabelMarket.sol";
import {LabelPacking} from "../../libraries/LabelPacking.sol";
import {Leaves} from "../../libraries/Leaves.sol";

/// @notice Drives LabelMarket through random but valid sequences of protocol steps by many actors.
/// @dev Every action bounds its inputs and returns early when the step is not valid right now, so the
///      campaign runs with `fail_on_revert = true`: any revert of the market on a step the handler predicted
///      valid is a failure. Ghost variables record what the handler computed independently of the market
///      (payouts per label, slashes, collections) for the invariants in Invariants.t.sol.
///      Time: forge does not keep `vm.warp` between calls reliably, so the handler keeps `currentTime` and
///      re-applies it at the start of every action.
contract Handler is Base {
    using LabelPacking for uint256;

    uint256 public constant MAX_BATCHES = 6;
    uint256 internal constant QUALIFIER_PK = 0x9A11F1E5;

    LabelMarket public immutable market;
    ConcordToken public immutable token;
    MockERC20 public immutable usd;
    address public immutable treasury;
    address public immutable reviewer;
    address public immutable qualifier;

    address[] public annotators;
    address[] public requesters;

    uint256 public currentTime;

    // ------------------------------------------------------------------------------------------------
    // Bookkeeping
    // ------------------------------------------------------------------------------------------------

    struct Gold {
        uint256[] items;
        uint256[] labels;
        bytes32[] salts;
        bool[] revealed;
    }

    /// @dev A claim the handler made; dropped once it can no longer be committed or revealed.
    struct Work {
        uint256 batchId;
        uint256 taskId;
        address annotator;
    }

    mapping(uint256 batchId => Gold) internal _gold;
    Work[] internal _work;
    mapping(bytes32 key => uint256) internal _committedLabels;

    // ------------------------------------------------------------------------------------------------
    // Ghosts
    // ------------------------------------------------------------------------------------------------

    /// @notice Rewards the handler expects each batch to have paid, computed from revealed labels and results.
    mapping(uint256 batchId => uint256) public ghostPaid;
    /// @dev (batch, task, slot, item) credited at least once.
    mapping(bytes32 key => bool) internal _credited;
    /// @dev (batch, task, annotator) ever assigned.
    mapping(bytes32 key => bool) internal _everAssigned;
    mapping(address token => uint256) public ghostCollected;
    uint256 public ghostStaked;
    uint256 public ghostWithdrawn;
    uint256 public ghostSlashed;

    bool public doubleCredit;
    bool public paidMismatch;
    bool public creditMismatch;
    bool public refundMismatch;
    bool public sameTaskTwice;
    bool public claimOutsidePrediction;

    mapping(string action => uint256) public calls;

    constructor(
        LabelMarket market_,
        ConcordToken token_,
        MockERC20 usd_,
        address treasury_,
        address reviewer_,
        address[] memory annotators_,
        address[] memory requesters_
    ) {
        market = market_;
        token = token_;
        usd = usd_;
        treasury = treasury_;
        reviewer = reviewer_;
        qualifier = vm.addr(QUALIFIER_PK);
        annotators = annotators_;
        requesters = requesters_;
        currentTime = vm.getBlockTimestamp();
    }

    modifier timed() {
        vm.warp(currentTime);
        _;
    }

    // ------------------------------------------------------------------------------------------------
    // Views for the invariants
    // ------------------------------------------------------------------------------------------------

    function annotatorCount() external view returns (uint256) {
        return annotators.length;
    }

    function requesterCount() external view returns (uint256) {
        return requesters.length;
    }

    function workCount() external view returns (uint256) {
        return _work.length;
    }

    // ------------------------------------------------------------------------------------------------
    // Actions
    // ------------------------------------------------------------------------------------------------

    /// @notice Initial state, called once from setUp: every annotator stakes 100 tokens.
    function bootstrap() external {
        for (uint256 i; i < annotators.length; ++i) {
            vm.prank(annotators[i]);
            market.stake(100 * UNIT);
            ghostStaked += 100 * UNIT;
        }
    }

    function warp(uint256 seconds_) external {
        currentTime += bound(seconds_, 1, 2 hours);
        vm.warp(currentTime);
        ++calls["warp"];
    }

    function createBatch(uint256 seed) external timed {
        if (market.batchCount() >= MAX_BATCHES) return;
        uint256 ri = seed % requesters.length;
        ILabelMarket.BatchParams memory p;
        p.rewardToken = ri == 0 ? address(token) : address(usd);
        p.taskSize = uint16(1 + (seed >> 8) % 4);
        uint256 maxItems = 5 * uint256(p.taskSize) < 10 ? 5 * uint256(p.taskSize) : 10; // <= 5 tasks
        p.numItems = uint32(1 + (seed >> 16) % maxItems);
        p.replicas = uint8(2 + (seed >> 24) % 3);
        p.numClasses = uint8(2 + (seed >> 32) % 3);
        uint16[4] memory thresholds = [uint16(5000), 6600, 7500, 10_000];
        p.thresholdBps = thresholds[(seed >> 40) % 4];
        p.rewardPerLabel = uint128(1 + (seed >> 48) % 3) * UNIT;
        p.wrongLabelPenalty = uint128((seed >> 56) % 3) * UNIT;
        p.noRevealPenalty = p.wrongLabelPenalty * p.taskSize + uint128(1 + (seed >> 64) % 3) * UNIT;
        p.stakePerClaim = p.noRevealPenalty + uint128((seed >> 72) % 3) * UNIT;
        p.minStake = (seed >> 80) % 2 == 0 ? 0 : 30 * UNIT;
        int64[3] memory minReps = [int64(-1000), -5, 0];
        p.minReputation = minReps[(seed >> 88) % 3];
        p.qualifier = (seed >> 96) % 4 == 0 ? qualifier : address(0);
        p.reviewer = (seed >> 100) % 4 == 0 ? address(0) : reviewer;
        p.commitPeriod = uint32(1 hours + (seed >> 104) % 2 hours);
        p.revealPeriod = uint32(1 hours + (seed >> 112) % 2 hours);
        p.reviewPeriod = uint32((seed >> 120) % 2 hours);
        p.claimTimeout = uint32(20 minutes + (seed >> 128) % 70 minutes);
        p.manifestRoot = keccak256(abi.encode("manifest", seed));
        p.manifestURI = "ipfs://manifest";

        uint256 id = market.batchCount();
        if ((seed >> 136) % 3 == 0) {
            uint256 maxGold = p.numItems < 3 ? p.numItems : 3;
            uint256 g = 1 + (seed >> 140) % maxGold;
            uint256 start = (seed >> 144) % p.numItems;
            Gold storage gold = _gold[id];
            bytes32[] memory leaves = new bytes32[](g);
            for (uint256 j; j < g; ++j) {
                uint256 item = (start + j) % p.numItems;
                uint256 label = uint256(keccak256(abi.encode(seed, "gold", j))) % p.numClasses;
                bytes32 salt = keccak256(abi.encode(seed, "salt", j));
                gold.items.push(item);
                gold.labels.push(label);
                gold.salts.push(salt);
                gold.revealed.push(false);
                leaves[j] = Leaves.goldLeaf(item, label, salt);
            }
            p.goldRoot = TestMerkle.root(leaves);
            p.goldCount = uint32(g);
        }

        vm.prank(requesters[ri]);
        market.createBatch(p);
        ++calls["createBatch"];
    }

    function stake(uint256 actorSeed, uint256 amount) external timed {
        address a = annotators[actorSeed % annotators.length];
        uint256 bal = token.balanceOf(a);
        if (bal == 0) return;
        amount = bound(amount, 1, bal < 200 * UNIT ? bal : 200 * UNIT);
        vm.prank(a);
        market.stake(amount);
        ghostStaked += amount;
        ++calls["stake"];
    }

    function requestUnstake(uint256 actorSeed, uint256 amount) external timed {
        address a = annotators[actorSeed % annotators.length];
        ILabelMarket.Stake memory st = market.stakeOf(a);
        uint256 unlocked = st.amount - st.locked;
        if (unlocked == 0) return;
        // Usually part of the free stake (keeps annotators active), sometimes all of it.
        amount = bound(amount, 1, actorSeed % 4 == 0 ? unlocked : (unlocked + 1) / 2);
        vm.prank(a);
        market.requestUnstake(amount);
        ++calls["requestUnstake"];
    }

    function withdraw(uint256 actorSeed) external timed {
        address a = annotators[actorSeed % annotators.length];
        ILabelMarket.Stake memory st = market.stakeOf(a);
        if (st.pending == 0 || currentTime < st.unlockAt) return;
        uint256 before = token.balanceOf(a);
        vm.prank(a);
        market.withdraw();
        if (token.balanceOf(a) - before != st.pending) creditMismatch = true;
        ghostWithdrawn += st.pending;
        ++calls["withdraw"];
    }

    function qualify(uint256 actorSeed, uint256 batchSeed) external timed {
        uint256 n = market.batchCount();
        if (n == 0) return;
        uint256 id = batchSeed % n;
        for (uint256 bi; bi < n && market.getBatch(id).config.qualifier == address(0); ++bi) {
            id = (id + 1) % n;
        }
        if (market.getBatch(id).config.qualifier == address(0)) return;
        address a = annotators[actorSeed % annotators.length];
        uint256 deadline = currentTime + 1 hours;
        // The type hash comes from the market: the handler signs whatever the market verifies (the unit tests
        // check that type against an independent copy).
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                market.domainSeparator(),
                keccak256(abi.encode(market.QUALIFICATION_TYPEHASH(), id, a, deadline))
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(QUALIFIER_PK, digest);
        market.qualify(id, a, deadline, abi.encodePacked(r, s, v));
        ++calls["qualify"];
    }

    /// @dev Up to four claims per call (so a 64-call run fills tasks); each tries annotators (from `actorSeed`)
    ///      and batches (from `batchSeed`) until one claim is valid.
    function claim(uint256 actorSeed, uint256 batchSeed) external timed {
        uint256 times = 1 + actorSeed % 4;
        for (uint256 i; i < times; ++i) {
            _claimOnce(uint256(keccak256(abi.encode(actorSeed, i))), uint256(keccak256(abi.encode(batchSeed, i))));
        }
    }

    function _claimOnce(uint256 actorSeed, uint256 batchSeed) internal {
        uint256 n = market.batchCount();
        for (uint256 bi; bi < n; ++bi) {
            uint256 id = (batchSeed % n + bi) % n;
            ILabelMarket.BatchConfig memory cfg = market.getBatch(id).config;
            if (currentTime > cfg.commitDeadline) continue;
            for (uint256 ai; ai < annotators.length; ++ai) {
                address a = annotators[(actorSeed % annotators.length + ai) % annotators.length];
                if (_tryClaim(id, a, cfg)) return;
            }
        }
    }

    function _tryClaim(uint256 id, address a, ILabelMarket.BatchConfig memory cfg) internal returns (bool) {
        if (cfg.qualifier != address(0) && !market.qualified(id, a)) return false;
        if (market.reputationScore(a) < cfg.minReputation) return false;
        ILabelMarket.Stake memory st = market.stakeOf(a);
        if (st.amount - st.locked < cfg.stakePerClaim || st.amount < cfg.minStake) return false;
        uint256 eligible = _eligibleTasks(id, a, cfg);
        if (eligible == 0) return false;

        vm.prank(a);
        uint256 t = market.claim(id);

        if ((eligible >> t) & 1 == 0) claimOutsidePrediction = true;
        bytes32 k = keccak256(abi.encode(id, t, a));
        if (_everAssigned[k]) sameTaskTwice = true;
        _everAssigned[k] = true;
        _work.push(Work(id, t, a));
        ++calls["claim"];
        return true;
    }

    function releaseExpired(uint256 seed) external timed {
        uint256 n = market.batchCount();
        for (uint256 bi; bi < n; ++bi) {
            uint256 id = (seed % n + bi) % n;
            ILabelMarket.BatchConfig memory cfg = market.getBatch(id).config;
            for (uint256 t; t < cfg.numTasks; ++t) {
                uint256 claimed = market.getTask(id, t).claimedMask;
                for (uint256 s; s < cfg.replicas; ++s) {
                    if ((claimed >> s) & 1 == 1 && market.getSlot(id, t, s).expiry < currentTime) {
                        market.releaseExpired(id, t, s);
                        ++calls["releaseExpired"];
                        return;
                    }
                }
            }
        }
    }

    /// @dev Up to four commits per call; each commits the first committable claim of the work list from `seed`.
    function commit(uint256 seed, uint256 labelSeed) external timed {
        uint256 times = 1 + seed % 4;
        for (uint256 i; i < times; ++i) {
            _commitOnce(uint256(keccak256(abi.encode(seed, i))), uint256(keccak256(abi.encode(labelSeed, i))));
        }
    }

    function _commitOnce(uint256 seed, uint256 labelSeed) internal {
        for (uint256 tries; tries < 8 && _work.length != 0; ++tries) {
            uint256 i = (seed % _work.length + tries) % _work.length;
            Work memory w = _work[i];
            (uint8 slot, ILabelMarket.Status status) = market.assignmentOf(w.batchId, w.taskId, w.annotator);
            if (status == ILabelMarket.Status.Expired || status == ILabelMarket.Status.Revealed) {
                _dropWork(i);
                continue;
            }
            if (status != ILabelMarket.Status.Claimed) continue;
            ILabelMarket.BatchConfig memory cfg = market.getBatch(w.batchId).config;
            if (currentTime > cfg.commitDeadline) continue;
            if (currentTime > market.getSlot(w.batchId, w.taskId, slot).expiry) continue;

            uint256 labels = _makeLabels(w, cfg, labelSeed);
            _committedLabels[keccak256(abi.encode(w.batchId, w.taskId, w.annotator))] = labels;
            bytes32 h = market.commitHashOf(w.batchId, w.taskId, w.annotator, labels, _salt(w));
            bytes memory backup = abi.encodePacked(labelSeed);
            vm.prank(w.annotator);
            market.commit(w.batchId, w.taskId, h, backup);
            ++calls["commit"];
            return;
        }
    }

    /// @dev Up to four reveals per call; each reveals the first revealable commit of the work list from `seed`.
    ///      Commits skipped here until the reveal deadline are never revealed and get slashed.
    function reveal(uint256 seed) external timed {
        uint256 times = 1 + seed % 4;
        for (uint256 i; i < times; ++i) {
            _revealOnce(uint256(keccak256(abi.encode(seed, i))));
        }
    }

    function _revealOnce(uint256 seed) internal {
        for (uint256 tries; tries < 8 && _work.length != 0; ++tries) {
            uint256 i = (seed % _work.length + tries) % _work.length;
            Work memory w = _work[i];
            (, ILabelMarket.Status status) = market.assignmentOf(w.batchId, w.taskId, w.annotator);
            if (status == ILabelMarket.Status.Expired || status == ILabelMarket.Status.Revealed) {
                _dropWork(i);
                continue;
            }
            if (status != ILabelMarket.Status.Committed) continue;
            ILabelMarket.BatchConfig memory cfg = market.getBatch(w.batchId).config;
            if (currentTime > cfg.revealDeadline) {
                _dropWork(i);
                continue;
            }
            uint256 full = (1 << cfg.replicas) - 1;
            if (market.getTask(w.batchId, w.taskId).committedMask != full && currentTime <= cfg.commitDeadline) {
                continue;
            }
            uint256 labels = _committedLabels[keccak256(abi.encode(w.batchId, w.taskId, w.annotator))];
            bytes32 salt = _salt(w);
            vm.prank(w.annotator);
            market.reveal(w.batchId, w.taskId, labels, salt);
            ++calls["reveal"];
            return;
        }
    }

    function revealGold(uint256 seed) external timed {
        uint256 n = market.batchCount();
        for (uint256 bi; bi < n; ++bi) {
            uint256 id = (seed % n + bi) % n;
            if (_revealOneGold(id, seed >> 8)) return;
        }
    }

    function _revealOneGold(uint256 id, uint256 seed) internal returns (bool) {
        Gold storage gold = _gold[id];
        uint256 g = gold.items.length;
        if (g == 0) return false;
        ILabelMarket.BatchConfig memory cfg = market.getBatch(id).config;
        if (currentTime <= cfg.commitDeadline || currentTime > cfg.revealDeadline) return false;
        for (uint256 k; k < g; ++k) {
            uint256 j = (seed % g + k) % g;
            if (gold.revealed[j]) continue;
            if (market.getTask(id, gold.items[j] / cfg.taskSize).settled) continue;
            bytes32[] memory leaves = new bytes32[](g);
            for (uint256 x; x < g; ++x) {
                leaves[x] = Leaves.goldLeaf(gold.items[x], gold.labels[x], gold.salts[x]);
            }
            ILabelMarket.GoldAnswer[] memory answers = new ILabelMarket.GoldAnswer[](1);
            answers[0] = ILabelMarket.GoldAnswer({
                item: uint32(gold.items[j]),
                label: uint8(gold.labels[j]),
                salt: gold.salts[j],
                proof: TestMerkle.proof(leaves, j)
            });
            vm.prank(cfg.requester);
            market.revealGold(id, answers);
            gold.revealed[j] = true;
            ++calls["revealGold"];
            return true;
        }
        return false;
    }

    function settleTask(uint256 seed) external timed {
        uint256 n = market.batchCount();
        for (uint256 bi; bi < n; ++bi) {
            uint256 id = (seed % n + bi) % n;
            ILabelMarket.Batch memory b = market.getBatch(id);
            for (uint256 k; k < b.config.numTasks; ++k) {
                uint256 t = ((seed >> 8) % b.config.numTasks + k) % b.config.numTasks;
                ILabelMarket.Task memory task = market.getTask(id, t);
                if (task.settled || !_settleable(b, task)) continue;
                Snapshot memory snap = _snapshot(id);
                market.settleTask(id, t);
                uint256 expected = _creditSettledTask(id, t, b.config);
                _checkSettlement(id, b.config, snap, expected);
                ++calls["settleTask"];
                return;
            }
        }
    }

    function settleTasks(uint256 seed, uint256 from, uint256 to) external timed {
        uint256 n = market.batchCount();
        if (n == 0) return;
        uint256 id = seed % n;
        ILabelMarket.Batch memory b = market.getBatch(id);
        from = bound(from, 0, b.config.numTasks);
        to = bound(to, from, b.config.numTasks + 2);
        uint256 limit = to < b.config.numTasks ? to : b.config.numTasks;
        uint256 becoming;
        for (uint256 t = from; t < limit; ++t) {
            ILabelMarket.Task memory task = market.getTask(id, t);
            if (!task.settled && _settleable(b, task)) becoming |= 1 << t;
        }

        Snapshot memory snap = _snapshot(id);
        uint256 settled = market.settleTasks(id, from, to);
        uint256 expected;
        uint256 count;
        for (uint256 t = from; t < limit; ++t) {
            if ((becoming >> t) & 1 == 1) {
                expected += _creditSettledTask(id, t, b.config);
                ++count;
            }
        }
        if (settled != count) paidMismatch = true;
        _checkSettlement(id, b.config, snap, expected);
        ++calls["settleTasks"];
    }

    function resolve(uint256 seed, uint256 labelSeed) external timed {
        uint256 n = market.batchCount();
        for (uint256 bi; bi < n; ++bi) {
            if (_resolveOne((seed % n + bi) % n, seed >> 8, labelSeed)) return;
        }
    }

    function _resolveOne(uint256 id, uint256 seed, uint256 labelSeed) internal returns (bool) {
        ILabelMarket.BatchConfig memory cfg = market.getBatch(id).config;
        if (cfg.reviewer == address(0) || currentTime > cfg.reviewDeadline) return false;
        for (uint256 k; k < cfg.numTasks; ++k) {
            uint256 t = (seed % cfg.numTasks + k) % cfg.numTasks;
            ILabelMarket.Task memory task = market.getTask(id, t);
            if (!task.settled) continue;
            uint256 items = market.itemsInTask(id, t);
            for (uint256 pos; pos < items; ++pos) {
                if ((task.decidedMask >> pos) & 1 == 1) continue;
                _resolveItem(id, t, pos, labelSeed % cfg.numClasses, task.revealedMask, cfg);
                return true;
            }
        }
        return false;
    }

    /// @dev Credits every revealed label equal to the reviewer's `label`, then resolves and checks the payout.
    function _resolveItem(
        uint256 id,
        uint256 t,
        uint256 pos,
        uint256 label,
        uint256 revealedMask,
        ILabelMarket.BatchConfig memory cfg
    ) internal {
        uint256 expected;
        for (uint256 s; s < cfg.replicas; ++s) {
            if ((revealedMask >> s) & 1 == 1 && market.labelsOf(id, t, s).get(pos) == label) {
                _credit(id, t, s, pos);
                expected += cfg.rewardPerLabel;
            }
        }
        Snapshot memory snap = _snapshot(id);
        vm.prank(reviewer);
        market.resolve(id, t * cfg.taskSize + pos, uint8(label));
        _checkSettlement(id, cfg, snap, expected);
        ++calls["resolve"];
    }

    function refund(uint256 seed) external timed {
        uint256 n = market.batchCount();
        for (uint256 bi; bi < n; ++bi) {
            uint256 id = (seed % n + bi) % n;
            ILabelMarket.Batch memory b = market.getBatch(id);
            if (currentTime <= b.config.reviewDeadline || b.state.tasksSettled != b.config.numTasks) continue;
            if (b.state.refunded) continue;
            IERC20 rt = IERC20(b.config.rewardToken);
            uint256 before = rt.balanceOf(b.config.requester);
            market.refund(id);
            if (rt.balanceOf(b.config.requester) - before != b.state.escrow - b.state.paid) refundMismatch = true;
            ++calls["refund"];
            return;
        }
    }

    function collect(uint256 actorSeed, uint256 tokenSeed) external timed {
        uint256 m = annotators.length + 1;
        for (uint256 k; k < m; ++k) {
            uint256 idx = (actorSeed % m + k) % m;
            address a = idx == annotators.length ? treasury : annotators[idx];
            address tok = (tokenSeed % 2 + k) % 2 == 0 ? address(token) : address(usd);
            uint256 amount = market.claimable(a, tok);
            if (amount == 0) continue;
            uint256 before = IERC20(tok).balanceOf(a);
            vm.prank(a);
            market.collect(tok);
            if (IERC20(tok).balanceOf(a) - before != amount) creditMismatch = true;
            ghostCollected[tok] += amount;
            ++calls["collect"];
            return;
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    struct Snapshot {
        uint256 paid;
        uint256 stakeSum;
        uint256 tokenCredits;
        uint256 usdCredits;
    }

    function _snapshot(uint256 id) internal view returns (Snapshot memory s) {
        s.paid = market.getBatch(id).state.paid;
        s.stakeSum = _stakeSum();
        s.tokenCredits = _credits(address(token));
        s.usdCredits = _credits(address(usd));
    }

    /// @dev After a settlement or review: the batch paid exactly what the handler computed, every wei slashed
    ///      from stakes was credited to someone in the stake token, and rewards were credited in the reward token.
    function _checkSettlement(uint256 id, ILabelMarket.BatchConfig memory cfg, Snapshot memory before, uint256 expected)
        internal
    {
        uint256 paidNow = market.getBatch(id).state.paid;
        if (paidNow - before.paid != expected) paidMismatch = true;
        ghostPaid[id] += expected;
        uint256 slashed = before.stakeSum - _stakeSum();
        ghostSlashed += slashed;
        uint256 tokenDelta = _credits(address(token)) - before.tokenCredits;
        uint256 usdDelta = _credits(address(usd)) - before.usdCredits;
        bool inToken = cfg.rewardToken == address(token);
        if (tokenDelta != slashed + (inToken ? expected : 0)) creditMismatch = true;
        if (usdDelta != (inToken ? 0 : expected)) creditMismatch = true;
    }

    /// @dev Marks every revealed label of a just-settled task that agrees with a decided item as credited.
    function _creditSettledTask(uint256 id, uint256 t, ILabelMarket.BatchConfig memory cfg)
        internal
        returns (uint256 expected)
    {
        ILabelMarket.Task memory task = market.getTask(id, t);
        uint256 items = market.itemsInTask(id, t);
        for (uint256 s; s < cfg.replicas; ++s) {
            if ((task.revealedMask >> s) & 1 == 0) continue;
            uint256 labels = market.labelsOf(id, t, s);
            for (uint256 pos; pos < items; ++pos) {
                if ((task.decidedMask >> pos) & 1 == 1 && labels.get(pos) == uint256(task.resultLabels).get(pos)) {
                    _credit(id, t, s, pos);
                    expected += cfg.rewardPerLabel;
                }
            }
        }
    }

    function _credit(uint256 id, uint256 t, uint256 s, uint256 pos) internal {
        bytes32 k = keccak256(abi.encode(id, t, s, pos));
        if (_credited[k]) doubleCredit = true;
        _credited[k] = true;
    }

    function _settleable(ILabelMarket.Batch memory b, ILabelMarket.Task memory task) internal view returns (bool) {
        if (currentTime > b.config.revealDeadline) return true;
        uint256 full = (1 << b.config.replicas) - 1;
        return b.state.goldRevealed == b.config.goldCount && task.committedMask == full && task.revealedMask == full;
    }

    /// @dev Tasks `a` may be handed: not fully committed, never touched by `a`, with a free or expired slot.
    function _eligibleTasks(uint256 id, address a, ILabelMarket.BatchConfig memory cfg)
        internal
        view
        returns (uint256 mask)
    {
        uint256 full = (1 << cfg.replicas) - 1;
        for (uint256 t; t < cfg.numTasks; ++t) {
            ILabelMarket.Task memory task = market.getTask(id, t);
            if (task.committedMask == full) continue;
            (, ILabelMarket.Status status) = market.assignmentOf(id, t, a);
            if (status != ILabelMarket.Status.None) continue;
            if (full & ~(uint256(task.claimedMask) | task.committedMask) != 0) {
                mask |= 1 << t;
                continue;
            }
            for (uint256 s; s < cfg.replicas; ++s) {
                if ((task.claimedMask >> s) & 1 == 1 && market.getSlot(id, t, s).expiry < currentTime) {
                    mask |= 1 << t;
                    break;
                }
            }
        }
    }

    /// @dev Mostly the item's "true" class, sometimes a random one, so consensus, dissent and ties all occur.
    function _makeLabels(Work memory w, ILabelMarket.BatchConfig memory cfg, uint256 seed)
        internal
        view
        returns (uint256 labels)
    {
        uint256 items = market.itemsInTask(w.batchId, w.taskId);
        for (uint256 j; j < items; ++j) {
            uint256 item = w.taskId * cfg.taskSize + j;
            uint256 truth = uint256(keccak256(abi.encode(w.batchId, item))) % cfg.numClasses;
            uint256 h = uint256(keccak256(abi.encode(seed, j)));
            labels = labels.set(j, h % 4 != 0 ? truth : (h >> 8) % cfg.numClasses);
        }
    }

    function _salt(Work memory w) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", w.batchId, w.taskId, w.annotator));
    }

    function _dropWork(uint256 i) internal {
        _work[i] = _work[_work.length - 1];
        _work.pop();
    }

    function _stakeSum() internal view returns (uint256 sum) {
        for (uint256 i; i < annotators.length; ++i) {
            sum += market.stakeOf(annotators[i]).amount;
        }
    }

    /// @dev Everything credited in `tok` to any account the handler lets act (annotators, treasury,
    ///      requesters, reviewer).
    function _credits(address tok) internal view returns (uint256 sum) {
        for (uint256 i; i < annotators.length; ++i) {
            sum += market.claimable(annotators[i], tok);
        }
        for (uint256 i; i < requesters.length; ++i) {
            sum += market.claimable(requesters[i], tok);
        }
        sum += market.claimable(treasury, tok) + market.claimable(reviewer, tok);
    }
}
