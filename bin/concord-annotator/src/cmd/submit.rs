//! `concord-annotator submit` and `publish`: write datapoints for a generation batch (docs/generation.md). Each
//! datapoint is committed as a hash first (its text and salt kept locally before the transaction), and published
//! after the submit deadline, so nobody can copy it while submissions are open.

use clap::Args;
use concord_cli::emit;
use concord_client::generation::{self, Draft};
use std::io::{BufRead, Write};
use std::path::PathBuf;

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Generation batch id.
    #[arg(long, short = 'g')]
    pub generation: u64,
    /// Datapoints: JSONL of `{"instruction": <index>, "text": ...}`. Without --file or --text, asks on the terminal.
    #[arg(long, conflicts_with = "text")]
    pub file: Option<PathBuf>,
    /// One datapoint's text (with --instruction).
    #[arg(long, requires = "instruction")]
    pub text: Option<String>,
    /// The instruction the --text answers (index in the batch's instructions).
    #[arg(long)]
    pub instruction: Option<u32>,
    /// Where the --text is hosted (content longer than the batch takes inline): it is published by reference and
    /// reviewers fetch it and check it against the committed hash. In a --file, a line's `uri` field.
    #[arg(long, requires = "text")]
    pub uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct InstructionsArgs {
    /// Generation batch id.
    #[arg(long, short = 'g')]
    pub generation: u64,
}

impl InstructionsArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let list = generation::instructions(&c, self.generation).await?;
        emit(args.json(), &list, |list| {
            println!(
                "generation {}: {} instructions, checked against the batch's root",
                self.generation,
                list.len()
            );
            for (i, ins) in list.iter().enumerate() {
                println!("  {i}  {}: {}", ins.id, ins.text);
            }
        })
    }
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Generation batch id.
    #[arg(long, short = 'g')]
    pub generation: u64,
}

impl SubmitArgs {
    fn drafts(&self) -> eyre::Result<Vec<Draft>> {
        if let Some(f) = &self.file {
            return Ok(generation::read_jsonl(f, "datapoints")?);
        }
        if let (Some(text), Some(instruction)) = (&self.text, self.instruction) {
            return Ok(vec![Draft {
                instruction,
                text: text.clone(),
                uri: self.uri.clone(),
            }]);
        }
        // Interactive: an instruction index and a datapoint per entry; an empty line ends.
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut drafts = Vec::new();
        loop {
            eprint!("instruction index (empty to finish)> ");
            std::io::stderr().flush()?;
            let Some(line) = lines.next().transpose()? else {
                break;
            };
            if line.trim().is_empty() {
                break;
            }
            let instruction: u32 = line
                .trim()
                .parse()
                .map_err(|_| eyre::eyre!("`{}` is not an instruction index", line.trim()))?;
            eprint!("datapoint> ");
            std::io::stderr().flush()?;
            let text = lines.next().transpose()?.unwrap_or_default();
            drafts.push(Draft {
                instruction,
                text,
                uri: None,
            });
        }
        eyre::ensure!(!drafts.is_empty(), "no datapoint given");
        Ok(drafts)
    }

    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let drafts = self.drafts()?;
        let c = args.connect().await?;
        let sids =
            generation::submit(&c, &args.generation_home(), self.generation, &drafts).await?;
        emit(
            args.json(),
            &serde_json::json!({ "generation": self.generation, "submissions": sids }),
            |_| {
                println!(
                    "{} datapoint{} committed to generation {} (submissions {:?}); publish after the submit deadline: concord-annotator publish -g {}",
                    sids.len(),
                    if sids.len() == 1 { "" } else { "s" },
                    self.generation,
                    sids,
                    self.generation
                )
            },
        )
    }
}

impl PublishArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let n = generation::publish(&c, &args.generation_home(), self.generation).await?;
        emit(
            args.json(),
            &serde_json::json!({ "generation": self.generation, "published": n }),
            |_| {
                println!(
                    "{n} datapoint{} published in generation {}",
                    if n == 1 { "" } else { "s" },
                    self.generation
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn takes_a_file_or_one_text_with_its_instruction() {
        let Cmd::Submit(s) = Cmd::parse_line(&["submit", "-g", "2", "--file", "d.jsonl"]).cmd
        else {
            panic!("not submit")
        };
        assert_eq!(s.generation, 2);
        assert!(
            Cmd::try_parse_line(&["submit", "-g", "2", "--text", "x"]).is_err(),
            "--text needs --instruction"
        );
        assert!(Cmd::try_parse_line(&[
            "submit",
            "-g",
            "2",
            "--file",
            "f",
            "--text",
            "x",
            "--instruction",
            "0"
        ])
        .is_err());
        let Cmd::Submit(s) =
            Cmd::parse_line(&["submit", "-g", "2", "--text", "Q? A.", "--instruction", "1"]).cmd
        else {
            panic!("not submit")
        };
        assert_eq!(s.drafts().expect("one").len(), 1);
        assert!(Cmd::try_parse_line(&["publish"]).is_err(), "-g is needed");
    }
}
