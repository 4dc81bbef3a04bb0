//! One module per benchmark, and the steps they share.

pub mod gas;
pub mod throughput;

use concord_client::requester::{self, BatchRecord};
use concord_client::Concord;

/// Settles every task of the batch `rec`, `chunk` tasks per transaction, carrying the reveals handed over under
/// `home`, and fails unless all of them settled.
pub async fn settle_all(
    req: &Concord,
    rec: &BatchRecord,
    chunk: u64,
    home: &std::path::Path,
) -> eyre::Result<requester::SettleReport> {
    let s = requester::settle(req, rec.batch_id, chunk, home).await?;
    eyre::ensure!(
        s.tasks_settled == rec.num_tasks,
        "settled {} of {} tasks",
        s.tasks_settled,
        rec.num_tasks
    );
    Ok(s)
}
