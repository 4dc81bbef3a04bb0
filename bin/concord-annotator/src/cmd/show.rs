//! `concord-annotator show`: the items of a task, verified against the batch's manifest root, with the verified
//! local copies of their media files.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    #[arg(long, short = 't')]
    pub task: u64,
}

impl ShowArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let annotator::TaskItems {
            manifest: m,
            items,
            media,
            ..
        } = annotator::task_items(&c, self.batch, self.task).await?;
        emit(
            args.json(),
            &serde_json::json!({ "classes": m.classes, "items": items, "media": media }),
            |_| {
                println!(
                    "batch {} task {}: {} items, manifest verified against the on-chain root",
                    self.batch,
                    self.task,
                    items.len()
                );
                for (i, it) in items.iter().enumerate() {
                    print::item(&m, it, media[i].as_deref(), i + 1, items.len());
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn parses_batch_and_task() {
        let Cmd::Show(s) = Cmd::parse_line(&["show", "-b", "1", "-t", "7"]).cmd else {
            panic!("not show")
        };
        assert_eq!((s.batch, s.task), (1, 7));
    }
}
