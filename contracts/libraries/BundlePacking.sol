// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title BundlePacking
/// @notice The labels of a bundle (protocol v2: the M tasks one join covers), as they travel in calldata: task i
///         of the bundle in bits [128 (i mod 2), 128 (i mod 2) + 128) of word i / 2, each task packed as
///         `LabelPacking` reads it (item j at bits [4j, 4j + 4), up to 32 items). Two tasks per word, so a bundle
///         of 8 tasks of 32 items is 4 words (128 bytes). The Rust client mirrors it
///         (`concord_protocol::bundle`), tested against the same vectors.
library BundlePacking {
    /// @notice Thrown when a bundle has no task at that index.
    error TaskOutOfBundle(uint256 index, uint256 words);

    /// @notice Bits per task: 32 items of 4 bits.
    uint256 internal constant TASK_BITS = 128;

    /// @notice Words that hold a bundle of `tasks` tasks.
    function wordsFor(uint256 tasks) internal pure returns (uint256) {
        return (tasks + 1) / 2;
    }

    /// @notice The packed labels of task `index` of the bundle `words`.
    function taskLabels(uint256[] calldata words, uint256 index) internal pure returns (uint256) {
        if (index / 2 >= words.length) revert TaskOutOfBundle(index, words.length);
        return (words[index / 2] >> (TASK_BITS * (index % 2))) & type(uint128).max;
    }

    /// @notice What a bundle's commitment covers: keccak256 of its words, packed.
    function digest(uint256[] calldata words) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(words));
    }
}
