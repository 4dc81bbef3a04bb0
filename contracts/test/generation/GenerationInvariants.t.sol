// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "../utils/Base.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {GenerationMarket} from "../../GenerationMarket.sol";
import {IGenerationMarketTypes} from "../../interfaces/IGenerationMarket.sol";
import {TextNormalize} from "../../libraries/TextNormalize.sol";

/// @notice Random contributors staking, submitting, publishing (duplicates and near-duplicates included), expiring
///         and collecting across two generation batches; every call is meant to succeed (fail_on_revert), so each
///         action only does what the rules allow and the ghosts mirror the market.
contract GenerationHandler is Base {
    GenerationMarket internal gen;
    ConcordToken internal token;
    address internal treasury;
    uint256[] public ids;
    address[] public contributors;

    struct Ghost {
        uint256 id;
        uint256 sid;
        address author;
        bytes content;
        bytes32 salt;
    }

    Ghost[] public subs;
    uint256 public duplicatesRefused;
    uint256 public publishedCount;

    /// @dev Short texts that collide after normalization (case and whitespace variants) and some that do not.
    bytes[6] internal texts =
        [bytes("Name a prime."), "  name A PRIME. ", "name a\tprime.", "Name an odd prime.", "Why?", "why?"];

    constructor(GenerationMarket g, ConcordToken t, address treasury_) {
        gen = g;
        token = t;
        treasury = treasury_;
        for (uint256 i; i < 4; ++i) {
            contributors.push(address(uint160(0xC000 + i)));
        }
    }

    function addGeneration(uint256 id) external {
        ids.push(id);
    }

    function contributorCount() external view returns (uint256) {
        return contributors.length;
    }

    function subCount() external view returns (uint256) {
        return subs.length;
    }

    function stake(uint256 who, uint256 amount) external {
        address a = contributors[who % contributors.length];
        amount = bound(amount, 1, 50 * UNIT);
        vm.prank(a);
        gen.stake(amount);
    }

    function unstake(uint256 who, uint256 amount) external {
        address a = contributors[who % contributors.length];
        IGenerationMarketTypes.Deposit memory d = gen.depositOf(a);
        uint256 unlocked = d.amount - d.locked;
        if (unlocked == 0) return;
        vm.prank(a);
        gen.unstake(bound(amount, 1, unlocked));
    }

    function submit(uint256 which, uint256 who, uint256 text, bytes32 salt) external {
        uint256 id = ids[which % ids.length];
        address a = contributors[who % contributors.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(id);
        if (block.timestamp > g.config.submitDeadline || g.state.submitted >= g.config.maxItems) return;
        IGenerationMarketTypes.Deposit memory d = gen.depositOf(a);
        if (d.amount - d.locked < g.config.stakePerSubmission) return;
        bytes memory content = texts[text % texts.length];
        bytes32 ch = gen.commitHashOf(id, a, keccak256(content), salt);
        vm.prank(a);
        uint256 sid = gen.submit(id, ch);
        subs.push(Ghost(id, sid, a, content, salt));
    }

    /// @dev Publishes a committed submission, or checks that the market refuses it as a duplicate.
    function publish(uint256 k) external {
        if (subs.length == 0) return;
        Ghost memory s = subs[k % subs.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(s.id);
        if (block.timestamp <= g.config.submitDeadline || block.timestamp > g.config.publishDeadline) return;
        if (gen.submissionOf(s.id, s.sid).status != IGenerationMarketTypes.SubmissionStatus.Committed) return;
        uint256 first = gen.firstWith(s.id, TextNormalize.normalizedHash(s.content));
        vm.prank(s.author);
        if (first != 0) {
            vm.expectRevert(
                abi.encodeWithSelector(IGenerationMarketTypes.DuplicateDatapoint.selector, s.sid, first - 1)
            );
            gen.publish(s.id, s.sid, s.content, s.salt);
            ++duplicatesRefused;
            return;
        }
        gen.publish(s.id, s.sid, s.content, s.salt);
        ++publishedCount;
    }

    function expire(uint256 k) external {
        if (subs.length == 0) return;
        Ghost memory s = subs[k % subs.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(s.id);
        if (block.timestamp <= g.config.publishDeadline) return;
        if (gen.submissionOf(s.id, s.sid).status != IGenerationMarketTypes.SubmissionStatus.Committed) return;
        gen.expireSubmission(s.id, s.sid);
    }

    function advance(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 12 hours));
    }

    function collect() external {
        if (gen.claimable(treasury, address(token)) == 0) return;
        vm.prank(treasury);
        gen.collect(address(token));
    }
}

/// @notice Generation invariants (ci profile: >= 10,000 calls each): exact solvency, locked stake exact and covered,
///         no two published datapoints of a batch with one normal form, and every submission accounted for.
contract GenerationInvariantsTest is Base {
    ConcordToken internal token;
    GenerationMarket internal gen;
    GenerationHandler internal handler;
    address internal treasury = address(0x7EA5);
    address internal requester = address(0xB0B);

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new ConcordToken(treasury);
        gen = new GenerationMarket(token, treasury);
        handler = new GenerationHandler(gen, token, treasury);
        vm.prank(treasury);
        require(token.transfer(requester, 100_000 * UNIT));
        vm.prank(requester);
        token.approve(address(gen), type(uint256).max);
        for (uint256 i; i < handler.contributorCount(); ++i) {
            address a = handler.contributors(i);
            vm.prank(treasury);
            require(token.transfer(a, 10_000 * UNIT));
            vm.prank(a);
            token.approve(address(gen), type(uint256).max);
        }
        handler.addGeneration(_create(1 days, 30));
        handler.addGeneration(_create(2 days, 8));

        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = handler.stake.selector;
        selectors[1] = handler.unstake.selector;
        selectors[2] = handler.submit.selector;
        selectors[3] = handler.publish.selector;
        selectors[4] = handler.expire.selector;
        selectors[5] = handler.advance.selector;
        selectors[6] = handler.collect.selector;
        selectors[7] = handler.submit.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function _create(uint32 period, uint32 maxItems) internal returns (uint256 id) {
        IGenerationMarketTypes.GenParams memory p;
        p.rewardToken = address(token);
        p.cap = 5;
        p.maxItems = maxItems;
        p.maxContentBytes = 64;
        p.rewardPerAccepted = 3e18;
        p.reviewBudget = 20e18;
        p.stakePerSubmission = 10e18;
        p.rejectPenalty = 4e18;
        p.unpublishedPenalty = 3e18;
        p.submitPeriod = period;
        p.publishPeriod = period;
        p.instructionsURI = "ipfs://i";
        vm.prank(requester);
        id = gen.createGeneration(p);
    }

    /// @notice Every token the market holds is owed, to the wei: escrows (nothing is paid yet), deposits, claims.
    function invariant_solvencyExact() public view {
        uint256 owed;
        for (uint256 i; i < 2; ++i) {
            IGenerationMarketTypes.GenState memory s = gen.getGeneration(handler.ids(i)).state;
            owed += s.escrow - s.paid;
        }
        for (uint256 i; i < handler.contributorCount(); ++i) {
            owed += gen.depositOf(handler.contributors(i)).amount;
        }
        owed += gen.claimable(treasury, address(token));
        assertEq(token.balanceOf(address(gen)), owed, "balance == escrows + deposits + claims");
    }

    /// @notice A contributor's locked stake is exactly one stake per submission not yet released, and held.
    function invariant_lockedExact() public view {
        uint256 n = handler.contributorCount();
        uint256[] memory open = new uint256[](n);
        for (uint256 k; k < handler.subCount(); ++k) {
            (uint256 id, uint256 sid, address author,,) = handler.subs(k);
            IGenerationMarketTypes.SubmissionStatus st = gen.submissionOf(id, sid).status;
            if (st == IGenerationMarketTypes.SubmissionStatus.Expired) continue;
            for (uint256 i; i < n; ++i) {
                if (handler.contributors(i) == author) open[i] += 10e18;
            }
        }
        for (uint256 i; i < n; ++i) {
            IGenerationMarketTypes.Deposit memory d = gen.depositOf(handler.contributors(i));
            assertEq(d.locked, open[i], "locked == stake x open submissions");
            assertLe(d.locked, d.amount, "locked <= staked");
        }
    }

    /// @notice No two published submissions of a batch share a normal form, and the first-with map points at the
    ///         published one.
    function invariant_noPublishedDuplicates() public view {
        uint256 count = handler.subCount();
        for (uint256 a; a < count; ++a) {
            (uint256 id, uint256 sid,,,) = handler.subs(a);
            IGenerationMarketTypes.Submission memory s = gen.submissionOf(id, sid);
            if (s.status != IGenerationMarketTypes.SubmissionStatus.Published) continue;
            assertEq(gen.firstWith(id, s.hash), sid + 1, "first-with points at it");
            for (uint256 b = a + 1; b < count; ++b) {
                (uint256 id2, uint256 sid2,,,) = handler.subs(b);
                if (id2 != id) continue;
                IGenerationMarketTypes.Submission memory t = gen.submissionOf(id2, sid2);
                if (t.status == IGenerationMarketTypes.SubmissionStatus.Published) {
                    assertNotEq(s.hash, t.hash, "two published with one normal form");
                }
            }
        }
    }

    /// @notice Every submission is committed, published or expired, and the counters say so.
    function invariant_submissionsAccounted() public view {
        uint256 published;
        uint256 total;
        for (uint256 i; i < 2; ++i) {
            IGenerationMarketTypes.GenState memory s = gen.getGeneration(handler.ids(i)).state;
            published += s.published;
            total += s.submitted;
        }
        assertEq(total, handler.subCount(), "every submission mirrored");
        assertEq(published, handler.publishedCount(), "published counted once each");
    }

    /// @dev The handler reaches the interesting states: a refused duplicate, a publication and an expiry.
    function test_handler_reachesDuplicatesPublicationAndExpiry() public {
        for (uint256 i; i < 4; ++i) {
            handler.stake(i, 50 * UNIT);
        }
        handler.submit(0, 0, 0, "a"); // "Name a prime."
        handler.submit(0, 1, 1, "b"); // its case/space variant
        handler.submit(0, 2, 3, "c"); // another question
        handler.advance(12 hours);
        handler.advance(12 hours);
        handler.advance(1);
        handler.publish(0);
        handler.publish(1);
        assertEq(handler.duplicatesRefused(), 1, "the variant refused");
        assertEq(handler.publishedCount(), 1, "one published");
        handler.advance(12 hours);
        handler.advance(12 hours);
        handler.expire(2);
        assertEq(gen.claimable(treasury, address(token)), 3e18, "the unpublished one forfeited");
        invariant_solvencyExact();
        invariant_lockedExact();
        invariant_noPublishedDuplicates();
        invariant_submissionsAccounted();
    }
}
