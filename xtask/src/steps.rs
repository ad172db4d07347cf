//! Running named steps and printing the summary table.

use std::{
    process::Command,
    time::{Duration, Instant},
};

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(String),
    /// Not run, with the reason (e.g. not implemented yet by this workspace).
    Skipped(String),
}

pub struct StepResult {
    pub name: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

/// Runs steps in order, streaming their output, and keeps their results.
#[derive(Default)]
pub struct Steps {
    results: Vec<StepResult>,
}

impl Steps {
    /// Runs `command` as the step `name`.
    pub fn command(&mut self, name: impl Into<String>, command: &mut Command) {
        let name = name.into();
        println!("\n==> {name}: {}", describe(command));
        let start = Instant::now();
        let outcome = match command.status() {
            Ok(status) if status.success() => Outcome::Passed,
            Ok(status) => Outcome::Failed(status.to_string()),
            Err(error) => Outcome::Failed(format!("could not start: {error}")),
        };
        self.record(name, outcome, start.elapsed());
    }

    /// Records a step that ran in-process (or did not run).
    pub fn record(&mut self, name: impl Into<String>, outcome: Outcome, duration: Duration) {
        self.results.push(StepResult {
            name: name.into(),
            outcome,
            duration,
        });
    }

    pub fn all_passed(&self) -> bool {
        self.results
            .iter()
            .all(|r| !matches!(r.outcome, Outcome::Failed(_)))
    }

    /// The summary table: step, result, seconds.
    pub fn table(&self) -> String {
        let width = self
            .results
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!(
            "{:<width$}  {:<6}  {:>8}  note\n",
            "step", "result", "seconds"
        );
        out.push_str(&format!("{}\n", "-".repeat(width + 26)));
        for r in &self.results {
            let (result, note) = match &r.outcome {
                Outcome::Passed => ("PASS", ""),
                Outcome::Failed(why) => ("FAIL", why.as_str()),
                Outcome::Skipped(why) => ("SKIP", why.as_str()),
            };
            let seconds = r.duration.as_secs_f64();
            out.push_str(&format!(
                "{:<width$}  {result:<6}  {seconds:>8.1}  {note}\n",
                r.name
            ));
        }
        let passed = self.count(|o| matches!(o, Outcome::Passed));
        let failed = self.count(|o| matches!(o, Outcome::Failed(_)));
        let skipped = self.count(|o| matches!(o, Outcome::Skipped(_)));
        out.push_str(&format!(
            "\n{passed} passed, {failed} failed, {skipped} skipped\n"
        ));
        out
    }

    fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pick(&r.outcome)).count()
    }
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_step_and_the_totals() {
        let mut steps = Steps::default();
        steps.record("fmt", Outcome::Passed, Duration::from_millis(1500));
        steps.record(
            "clippy",
            Outcome::Failed("exit status: 101".into()),
            Duration::ZERO,
        );
        steps.record("system", Outcome::Skipped("later".into()), Duration::ZERO);
        let table = steps.table();
        assert!(table.contains("fmt     PASS         1.5"), "{table}");
        assert!(
            table.contains("clippy  FAIL         0.0  exit status: 101"),
            "{table}"
        );
        assert!(
            table.ends_with("1 passed, 1 failed, 1 skipped\n"),
            "{table}"
        );
        assert!(!steps.all_passed());
    }

    #[test]
    fn a_failing_command_fails_its_step() {
        let mut steps = Steps::default();
        steps.command("false", &mut Command::new("false"));
        steps.command("true", &mut Command::new("true"));
        steps.command("missing", &mut Command::new("/nonexistent/program"));
        assert_eq!(
            steps.results[0].outcome,
            Outcome::Failed("exit status: 1".into())
        );
        assert_eq!(steps.results[1].outcome, Outcome::Passed);
        assert!(matches!(steps.results[2].outcome, Outcome::Failed(_)));
    }
}
