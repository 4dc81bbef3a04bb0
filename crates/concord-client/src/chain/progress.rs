//! Progress of long pipelines, reported through a trait so the client stays free of terminal output: the CLIs
//! plug in progress bars, library users and tests get nothing by default.

/// Creates a tracker for one pipeline of `total` steps named `action`.
pub trait Progress: Send + Sync {
    fn start(&self, action: &str, total: u64) -> Box<dyn ProgressTracker>;
}

/// One running pipeline's progress.
pub trait ProgressTracker: Send + Sync {
    /// `n` more steps are done (confirmed or failed).
    fn inc(&self, n: u64);
    /// The pipeline ended.
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _action: &str, _total: u64) -> Box<dyn ProgressTracker> {
        Box::new(Silent)
    }
}

impl ProgressTracker for Silent {
    fn inc(&self, _n: u64) {}
}
