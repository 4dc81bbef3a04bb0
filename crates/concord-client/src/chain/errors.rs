//! Classifying what went wrong talking to a node: a decoded revert, an unreachable or slow node, a nonce another
//! transaction took. Each class becomes one [`ClientError`] line that says what to do.

use alloy::transports::{RpcError, TransportError, TransportErrorKind};

use super::revert::explain_revert_data;
use crate::ClientError;

/// Node messages meaning "this nonce is already used by another transaction".
pub(crate) fn is_nonce_taken(lower_msg: &str) -> bool {
    lower_msg.contains("nonce too low")
        || lower_msg.contains("nonce has already been used")
        || lower_msg.contains("replacement transaction underpriced")
        || lower_msg.contains("already used")
}

/// The request never reached the node (refused, reset, closed): worth retrying while it restarts.
pub(crate) fn is_unreachable(e: &TransportError) -> bool {
    if let RpcError::Transport(TransportErrorKind::Custom(inner)) = e {
        if let Some(re) = inner.downcast_ref::<alloy::transports::http::reqwest::Error>() {
            return re.is_connect();
        }
    }
    false
}

/// Maps a contract error into a [`ClientError`] with a sentence for the user.
pub fn contract_error(action: &str, url: &str, e: alloy::contract::Error) -> ClientError {
    if let Some(reason) = e.as_revert_data().and_then(|d| explain_revert_data(&d)) {
        return ClientError::Revert {
            action: action.to_string(),
            reason,
        };
    }
    transport_error(action, url, &e.to_string())
}

/// Classifies a transport-level failure message.
pub fn transport_error(action: &str, url: &str, msg: &str) -> ClientError {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("timeout") {
        return ClientError::Rpc {
            url: url.to_string(),
            reason: "the request timed out (raise --rpc-timeout if the node is just slow)".into(),
        };
    }
    if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("connection closed")
        || lower.contains("connection reset")
        || lower.contains("max retries exceeded")
        || lower.contains("dns")
    {
        return ClientError::Rpc {
            url: url.to_string(),
            reason: "connection refused".into(),
        };
    }
    if lower.contains("insufficient funds") {
        return ClientError::Revert {
            action: action.to_string(),
            reason: "the account has not enough ETH to pay for gas; fund it first".into(),
        };
    }
    if lower.contains("execution reverted") {
        return ClientError::Revert {
            action: action.to_string(),
            reason: format!("the contract reverted ({msg})"),
        };
    }
    ClientError::Transport {
        action: action.to_string(),
        reason: msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(e: ClientError) -> String {
        e.to_string()
    }

    #[test]
    fn timeouts_and_refusals_name_the_node() {
        let url = "http://127.0.0.1:1";
        let t = transport_error("claim", url, "operation timed out");
        assert!(matches!(t, ClientError::Rpc { .. }), "{t:?}");
        assert!(reason(t).contains("raise --rpc-timeout"));
        for msg in [
            "error sending request for url (http://127.0.0.1:1/)",
            "Connection refused (os error 111)",
            "connection reset by peer",
            "max retries exceeded",
        ] {
            let e = transport_error("claim", url, msg);
            assert_eq!(
                reason(e),
                "cannot reach the RPC at http://127.0.0.1:1: connection refused; is the node running? (start one with `concord-devnet`)",
                "{msg}"
            );
        }
    }

    #[test]
    fn funds_and_reverts_are_explained() {
        let e = transport_error("stake", "u", "insufficient funds for gas * price + value");
        assert_eq!(
            reason(e),
            "stake failed: the account has not enough ETH to pay for gas; fund it first"
        );
        let r = transport_error("stake", "u", "execution reverted: 0x1234");
        assert!(matches!(r, ClientError::Revert { .. }));
        assert!(reason(r).starts_with("stake failed: the contract reverted ("));
        let other = transport_error("stake", "u", "something odd");
        assert!(matches!(other, ClientError::Transport { .. }));
        assert_eq!(reason(other), "stake failed: something odd");
    }

    #[test]
    fn nonce_messages_of_common_nodes_are_recognised() {
        for msg in [
            "nonce too low",
            "nonce too low: next nonce 5, tx nonce 4",
            "replacement transaction underpriced",
            "nonce has already been used",
            "transaction already used",
        ] {
            assert!(is_nonce_taken(&msg.to_ascii_lowercase()), "{msg}");
        }
        assert!(!is_nonce_taken("insufficient funds"));
        assert!(!is_nonce_taken("nonce too high"));
    }
}
