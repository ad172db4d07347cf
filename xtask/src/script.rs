//! Conversations with an interactive guest: a scenario's script waits for text on
//! the emulator's console, then types a line, step by step, each with a time limit,
//! and fails at once on the messages of a dying Linux kernel.

use std::{
    io::Write,
    process::{ChildStdin, Command, Stdio},
    sync::mpsc::RecvTimeoutError,
    time::{Duration, Instant},
};

use crate::{
    emulator::{self, RunResult},
    escapes,
};

/// A check of console text: why it fails, if it does.
pub type Check = fn(&str) -> Result<(), String>;

/// One step: wait for `wait_for`, check what came meanwhile, then type `send`.
pub struct Step {
    /// Text the console must show (anywhere after the previous step's text).
    pub wait_for: &'static str,
    /// How long it may take to appear.
    pub within: Duration,
    /// A check of the console text since the previous step, up to and including
    /// `wait_for` (escape sequences and carriage returns removed).
    pub check: Option<Check>,
    /// What to send to the emulator's stdin then (the guest's console input).
    pub send: &'static str,
}

/// A scenario's conversation.
pub struct Script {
    /// The steps, in order.
    pub steps: &'static [Step],
    /// How long the emulator may take to exit after the last step.
    pub exit_within: Duration,
}

/// What a kernel prints when it is dying; any of them fails the run at once.
pub const FAILURE_MARKERS: [&str; 4] = [
    "Kernel panic",
    "Unable to handle kernel",
    "BUG:",
    "Attempted to kill init",
];

/// busybox's line editor asks where the cursor is (ESC [ 6 n) after each prompt,
/// and waits a little for the answer; a terminal would answer, so the script does.
const CURSOR_QUERY: &[u8] = b"\x1b[6n";
/// The answer of a 24x80 terminal: row 24, column 80.
const CURSOR_ANSWER: &[u8] = b"\x1b[24;80R";

/// How a scripted run went.
pub struct ScriptedRun {
    /// The emulator's status, output and time.
    pub result: RunResult,
    /// Why the script failed (a step timed out, a check failed, a failure marker
    /// appeared, the emulator did not exit), or `None`.
    pub failure: Option<String>,
}

/// Runs `command` with its stdin fed by `script`, streaming its output to ours
/// (when `echo`).
pub fn run(command: &mut Command, script: &Script, echo: bool) -> Result<ScriptedRun, String> {
    let start = Instant::now();
    let mut running = emulator::start(command, Stdio::piped())?;
    let mut stdin = running.child.stdin.take();
    let mut conversation = Conversation::new(script);
    let mut status = None;
    let failure = loop {
        match running.output.recv_timeout(Duration::from_millis(20)) {
            Ok(chunk) => {
                emulator::echo(&chunk, echo);
                if let Some(why) = conversation.take(&chunk, stdin.as_mut()) {
                    break Some(why);
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        if let Some(why) = conversation.overdue() {
            break Some(why);
        }
        match running.child.try_wait() {
            Ok(Some(exit)) => {
                status = exit.code();
                break None;
            }
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for the emulator: {e}")),
        }
    };
    if status.is_none() {
        running.kill();
    }
    drop(stdin);
    let rest = running.drain();
    emulator::echo(&rest, echo);
    // What came after the exit may still hold a failure marker or the last step.
    let late = conversation.take(&rest, None);
    let failure = failure.or(late).or_else(|| conversation.unfinished(status));
    Ok(ScriptedRun {
        result: RunResult {
            status,
            output: String::from_utf8_lossy(&conversation.output).into_owned(),
            duration: start.elapsed(),
        },
        failure,
    })
}

/// The state of a script against the output so far.
struct Conversation<'a> {
    script: &'a Script,
    /// Everything the emulator printed.
    output: Vec<u8>,
    /// The step waited for, and since when.
    step: usize,
    since: Instant,
    /// Where the current step's text may start.
    window: usize,
    /// Where the search for failure markers and cursor queries goes on.
    scanned: usize,
    /// When the last step was done (the exit is awaited from then on).
    done_at: Option<Instant>,
}

impl<'a> Conversation<'a> {
    fn new(script: &'a Script) -> Self {
        Self {
            script,
            output: Vec::new(),
            step: 0,
            since: Instant::now(),
            window: 0,
            scanned: 0,
            done_at: script.steps.is_empty().then(Instant::now),
        }
    }

    /// Takes a chunk of output: answers cursor queries, looks for failure
    /// markers, and does every step whose text has now appeared. Why the run
    /// fails, if it does.
    fn take(&mut self, chunk: &[u8], mut stdin: Option<&mut ChildStdin>) -> Option<String> {
        self.output.extend_from_slice(chunk);
        // A query or marker may straddle two chunks: look back a little.
        let longest = FAILURE_MARKERS
            .iter()
            .map(|marker| marker.len())
            .chain([CURSOR_QUERY.len()])
            .max()
            .unwrap_or(0);
        let from = self.scanned.saturating_sub(longest - 1);
        let fresh = &self.output[from..];
        if let Some(marker) = FAILURE_MARKERS
            .iter()
            .find(|marker| find(fresh, marker.as_bytes()).is_some())
        {
            return Some(format!("the guest's kernel printed `{marker}`"));
        }
        let queries = count_from(&self.output, CURSOR_QUERY, self.scanned, longest);
        for _ in 0..queries {
            send(stdin.as_deref_mut(), CURSOR_ANSWER);
        }
        self.scanned = self.output.len();
        while let Some(step) = self.script.steps.get(self.step) {
            let Some(at) = find(&self.output[self.window..], step.wait_for.as_bytes()) else {
                break;
            };
            let end = self.window + at + step.wait_for.len();
            if let Some(check) = step.check {
                let text = escapes::strip(&String::from_utf8_lossy(&self.output[self.window..end]))
                    .replace('\r', "");
                if let Err(why) = check(&text) {
                    return Some(format!(
                        "step {} (`{}`): {why}",
                        self.step + 1,
                        step.wait_for
                    ));
                }
            }
            send(stdin.as_deref_mut(), step.send.as_bytes());
            self.window = end;
            self.step += 1;
            self.since = Instant::now();
            if self.step == self.script.steps.len() {
                self.done_at = Some(Instant::now());
            }
        }
        None
    }

    /// Why the run fails now for lack of time, if it does.
    fn overdue(&self) -> Option<String> {
        match (self.script.steps.get(self.step), self.done_at) {
            (Some(step), _) if self.since.elapsed() > step.within => Some(format!(
                "step {}: no `{}` within {:?}",
                self.step + 1,
                step.wait_for,
                step.within
            )),
            (None, Some(done)) if done.elapsed() > self.script.exit_within => Some(format!(
                "the emulator did not exit within {:?} of the last step",
                self.script.exit_within
            )),
            _ => None,
        }
    }

    /// Why a run that ended with `status` (`None`: stopped) fails because the
    /// script was not through.
    fn unfinished(&self, status: Option<i32>) -> Option<String> {
        let step = self.script.steps.get(self.step)?;
        let how = status.map_or_else(
            || String::from("was stopped"),
            |code| format!("exited with status {code}"),
        );
        Some(format!(
            "the emulator {how} before step {} (`{}`)",
            self.step + 1,
            step.wait_for
        ))
    }
}

/// Types `bytes` into the emulator (a closed stdin is the emulator's business: it
/// ended, and the run's end says why).
fn send(stdin: Option<&mut ChildStdin>, bytes: &[u8]) {
    if let Some(stdin) = stdin {
        let _ = stdin.write_all(bytes).and_then(|()| stdin.flush());
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// How many times `needle` occurs in `haystack` ending after `scanned` (the part
/// not searched before), looking back `lookback - 1` bytes for one that straddles.
fn count_from(haystack: &[u8], needle: &[u8], scanned: usize, lookback: usize) -> usize {
    let from = scanned.saturating_sub(lookback.saturating_sub(1));
    haystack[from..]
        .windows(needle.len())
        .enumerate()
        .filter(|(at, window)| *window == needle && from + at + needle.len() > scanned)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake guest: a shell that prompts, reads lines and answers them.
    fn guest(body: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", body]);
        command
    }

    const SECOND: Duration = Duration::from_secs(5);

    const ECHO: &[Step] = &[
        Step {
            wait_for: "READY",
            within: SECOND,
            check: None,
            send: "echo SHELL-$((6*7))\n",
        },
        Step {
            wait_for: "SHELL-42",
            within: SECOND,
            check: Some(|text| {
                if text.contains("READY") {
                    Err("the window starts after the previous step".into())
                } else {
                    Ok(())
                }
            }),
            send: "exit 0\n",
        },
    ];

    #[test]
    fn a_script_types_after_each_text_and_the_guest_exits() {
        let script = Script {
            steps: ECHO,
            exit_within: SECOND,
        };
        let run = run(
            &mut guest("echo READY; read -r line; eval \"$line\"; read -r line; eval \"$line\""),
            &script,
            false,
        )
        .unwrap();
        assert_eq!(run.failure, None);
        assert_eq!(run.result.status, Some(0));
        assert_eq!(run.result.output, "READY\nSHELL-42\n");
    }

    #[test]
    fn a_step_that_never_comes_times_out_and_the_guest_is_killed() {
        const STEPS: &[Step] = &[Step {
            wait_for: "NEVER",
            within: Duration::from_millis(300),
            check: None,
            send: "",
        }];
        let script = Script {
            steps: STEPS,
            exit_within: SECOND,
        };
        let started = Instant::now();
        let run = run(&mut guest("echo hi; sleep 30"), &script, false).unwrap();
        assert_eq!(
            run.failure.as_deref(),
            Some("step 1: no `NEVER` within 300ms")
        );
        assert_eq!(run.result.status, None);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_kernel_panic_fails_at_once() {
        let script = Script {
            steps: ECHO,
            exit_within: SECOND,
        };
        let run = run(
            &mut guest("printf 'Kernel pa'; sleep 0.2; echo 'nic - not syncing'; sleep 30"),
            &script,
            false,
        )
        .unwrap();
        assert_eq!(
            run.failure.as_deref(),
            Some("the guest's kernel printed `Kernel panic`")
        );
    }

    #[test]
    fn a_failed_check_fails_the_run() {
        const STEPS: &[Step] = &[Step {
            wait_for: "TABLE-END",
            within: SECOND,
            check: Some(|text| {
                if text.contains("good") {
                    Ok(())
                } else {
                    Err("no good row".into())
                }
            }),
            send: "",
        }];
        let script = Script {
            steps: STEPS,
            exit_within: SECOND,
        };
        let run = run(&mut guest("echo bad; echo TABLE-END"), &script, false).unwrap();
        assert_eq!(
            run.failure.as_deref(),
            Some("step 1 (`TABLE-END`): no good row")
        );
    }

    #[test]
    fn cursor_queries_are_answered_like_a_terminal() {
        const STEPS: &[Step] = &[Step {
            wait_for: "ROW",
            within: SECOND,
            check: None,
            send: "",
        }];
        let script = Script {
            steps: STEPS,
            exit_within: SECOND,
        };
        // The query comes in two pieces; the answer is read back raw and shown.
        let body = "stty raw -echo 2>/dev/null; printf '/ # \\033['; sleep 0.2; printf '6n'; \
                    answer=$(dd bs=8 count=1 2>/dev/null | od -An -c | tr -d ' \\n'); \
                    echo; echo \"ROW $answer\"";
        let run = run(&mut guest(body), &script, false).unwrap();
        assert_eq!(run.failure, None);
        assert!(
            run.result.output.contains("ROW 033[24;80R"),
            "{}",
            run.result.output
        );
    }

    #[test]
    fn an_early_exit_leaves_the_script_unfinished() {
        let script = Script {
            steps: ECHO,
            exit_within: SECOND,
        };
        let run = run(&mut guest("echo READY; exit 3"), &script, false).unwrap();
        assert_eq!(run.result.status, Some(3));
        assert_eq!(
            run.failure.as_deref(),
            Some("the emulator exited with status 3 before step 2 (`SHELL-42`)")
        );
    }

    #[test]
    fn queries_straddling_chunks_are_counted_once() {
        let text = b"a\x1b[6nb\x1b[6n";
        assert_eq!(count_from(text, CURSOR_QUERY, 0, 4), 2);
        // The first query was seen in a chunk that ended after it.
        assert_eq!(count_from(text, CURSOR_QUERY, 5, 4), 1);
        // One that began before `scanned` and ends after it is new.
        assert_eq!(count_from(text, CURSOR_QUERY, 8, 4), 1);
        assert_eq!(count_from(text, CURSOR_QUERY, text.len(), 4), 0);
        assert_eq!(find(b"abc", b"c"), Some(2));
        assert_eq!(find(b"abc", b"d"), None);
    }
}
