//! One job of a C allocator (a checked and timed run of one trace, a heap map, loading
//! it to see what it defines), run in a child process so that nothing the C code does
//! can take the race down.
//!
//! The race forks; the child does the job and writes its answer, as JSON, to a pipe,
//! and exits. Whatever the C code prints goes to a second pipe (the report on standard
//! output stays clean), of which the parent keeps the tail. The child notes in a page of
//! shared memory which replay, which op and which `mm_*` function it is in
//! ([`Progress`]), so that when it dies — a signal, `exit`, or killed at the timeout —
//! the parent can say where. Nothing of the child outlives the job: the C allocator's
//! heap, its static variables and whatever it broke go with the process.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::sys::{self, Call, Forked, Progress, SharedProgress};

/// How much of what the child printed is kept (its end).
const OUTPUT_KEPT: usize = 8 * 1024;

/// The child's answer on the pipe.
#[derive(Serialize, Deserialize)]
enum Reply<T> {
    /// The job's result.
    Value(T),
    /// The driver's code panicked in the child, with this message.
    Panic(String),
}

/// How a child ended without answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// Killed by this signal.
    Signal(i32),
    /// Exited with this status (the C code called `exit`).
    Exit(i32),
    /// Still running at the timeout, and killed.
    TimedOut(Duration),
    /// The driver's own code panicked.
    Panicked(String),
    /// The child could not be started or watched.
    Setup(String),
}

/// A child that ended without answering, and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// How it ended.
    pub how: How,
    /// Replays it had started (1 is the checked replay; 0 means none yet).
    pub replay: u32,
    /// The allocator function it was in.
    pub call: Call,
    /// Ops started in that replay (the current one is `ops - 1`).
    pub ops: u64,
    /// The end of what it printed.
    pub output: String,
}

impl Death {
    fn setup(error: impl std::fmt::Display) -> Death {
        Death {
            how: How::Setup(error.to_string()),
            replay: 0,
            call: Call::None,
            ops: 0,
            output: String::new(),
        }
    }

    /// The last lines the child printed, on one line, or "" (at most two lines, each
    /// cut to 200 characters).
    pub fn last_words(&self) -> String {
        let lines: Vec<&str> = self.output.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let cut = |line: &str| {
            if line.chars().count() > 200 {
                format!("{}...", line.chars().take(200).collect::<String>())
            } else {
                line.to_owned()
            }
        };
        lines[lines.len().saturating_sub(2)..].iter().map(|l| cut(l)).collect::<Vec<_>>().join(" / ")
    }
}

/// Runs `work` in a child process and returns its result, or how the child died if it
/// crashed, exited, or was still running after `timeout`.
pub fn run<T, F>(timeout: Duration, work: F) -> Result<T, Death>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&Progress) -> T,
{
    let progress = SharedProgress::new().map_err(|e| Death::setup(format!("shared memory: {e}")))?;
    let (reply_r, reply_w) = std::io::pipe().map_err(|e| Death::setup(format!("pipe: {e}")))?;
    let (output_r, output_w) = std::io::pipe().map_err(|e| Death::setup(format!("pipe: {e}")))?;
    match sys::fork().map_err(|e| Death::setup(format!("fork: {e}")))? {
        Forked::Child => {
            drop((reply_r, output_r));
            sys::become_child(output_w.as_raw_fd());
            drop(output_w);
            let reply = match catch_unwind(AssertUnwindSafe(|| work(&progress))) {
                Ok(value) => Reply::Value(value),
                Err(payload) => Reply::Panic(crate::race::panic_text(payload)),
            };
            let mut out = std::io::BufWriter::new(reply_w);
            let sent = serde_json::to_writer(&mut out, &reply).is_ok() && out.flush().is_ok();
            sys::exit_now(if sent { 0 } else { 70 })
        }
        Forked::Parent(pid) => {
            drop((reply_w, output_w));
            supervise(pid, reply_r, output_r, timeout, &progress)
        }
    }
}

/// The parent's side: drains both pipes until the child ends or the timeout passes,
/// then reaps it and reads its answer.
fn supervise<T: DeserializeOwned>(
    pid: libc::pid_t,
    mut reply_r: std::io::PipeReader,
    mut output_r: std::io::PipeReader,
    timeout: Duration,
    progress: &Progress,
) -> Result<T, Death> {
    let deadline = Instant::now() + timeout;
    let mut reply = Vec::new();
    let mut output = Vec::new();
    let mut open = [true, true];
    let mut buffer = vec![0u8; 64 * 1024];
    let mut timed_out = false;
    while open.iter().any(|&o| o) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        let fds: Vec<i32> = [reply_r.as_raw_fd(), output_r.as_raw_fd()]
            .into_iter()
            .zip(open)
            .filter_map(|(fd, o)| o.then_some(fd))
            .collect();
        let ready = match sys::poll_readable(&fds, left) {
            Ok(ready) => ready,
            Err(e) => return Err(kill(pid, progress, How::Setup(format!("poll: {e}")), &output)),
        };
        for (fd, _) in fds.iter().zip(ready).filter(|&(_, r)| r) {
            let (reader, sink, slot) = if *fd == reply_r.as_raw_fd() {
                (&mut reply_r, &mut reply, 0)
            } else {
                (&mut output_r, &mut output, 1)
            };
            match reader.read(&mut buffer) {
                Ok(0) | Err(_) => open[slot] = false,
                Ok(n) => {
                    sink.extend_from_slice(&buffer[..n]);
                    if slot == 1 && output.len() > 2 * OUTPUT_KEPT {
                        output.drain(..output.len() - OUTPUT_KEPT);
                    }
                }
            }
        }
    }
    // Both pipes closed: the child is ending (or closed them and goes on; the timeout
    // still holds).
    let status = loop {
        if timed_out {
            break None;
        }
        match sys::try_wait(pid) {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => timed_out = true,
            Err(e) => return Err(kill(pid, progress, How::Setup(format!("waitpid: {e}")), &output)),
        }
    };
    let Some(status) = status else {
        return Err(kill(pid, progress, How::TimedOut(timeout), &output));
    };
    let death = |how| death(how, progress, &output);
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return Err(death(How::Signal(signal)));
    }
    let code = status.code().unwrap_or(-1);
    match serde_json::from_slice::<Reply<T>>(&reply) {
        Ok(Reply::Value(value)) if code == 0 => Ok(value),
        Ok(Reply::Panic(message)) => Err(death(How::Panicked(message))),
        _ => Err(death(How::Exit(code))),
    }
}

fn death(how: How, progress: &Progress, output: &[u8]) -> Death {
    let start = output.len().saturating_sub(OUTPUT_KEPT);
    Death {
        how,
        replay: progress.replay.load(Ordering::Relaxed),
        call: Call::from_code(progress.call.load(Ordering::Relaxed)),
        ops: progress.ops.load(Ordering::Relaxed),
        output: String::from_utf8_lossy(&output[start..]).into_owned(),
    }
}

/// Kills and reaps the child, and says how it ended.
fn kill(pid: libc::pid_t, progress: &Progress, how: How, output: &[u8]) -> Death {
    let _ = sys::kill_and_wait(pid);
    death(how, progress, output)
}

/// The name and meaning of a signal, e.g. `SIGSEGV (segmentation fault)`.
pub fn signal_name(signal: i32) -> String {
    let known = [
        (libc::SIGSEGV, "SIGSEGV", "segmentation fault"),
        (libc::SIGBUS, "SIGBUS", "bus error"),
        (libc::SIGABRT, "SIGABRT", "abort"),
        (libc::SIGFPE, "SIGFPE", "arithmetic exception"),
        (libc::SIGILL, "SIGILL", "illegal instruction"),
        (libc::SIGTRAP, "SIGTRAP", "trace trap"),
        (libc::SIGSYS, "SIGSYS", "bad system call"),
        (libc::SIGKILL, "SIGKILL", "killed"),
        (libc::SIGTERM, "SIGTERM", "terminated"),
        (libc::SIGINT, "SIGINT", "interrupted"),
        (libc::SIGPIPE, "SIGPIPE", "broken pipe"),
        (libc::SIGXCPU, "SIGXCPU", "CPU time limit exceeded"),
        (libc::SIGXFSZ, "SIGXFSZ", "file size limit exceeded"),
    ];
    match known.iter().find(|(number, _, _)| *number == signal) {
        Some((_, name, meaning)) => format!("{name} ({meaning})"),
        None => format!("signal {signal}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_answers() {
        assert_eq!(run(Duration::from_secs(60), |_| 6 * 7), Ok::<i32, Death>(42));
    }

    #[test]
    fn signals_are_named() {
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV (segmentation fault)");
        assert_eq!(signal_name(libc::SIGABRT), "SIGABRT (abort)");
        assert_eq!(signal_name(77), "signal 77");
    }

    #[test]
    fn last_words_are_the_last_two_lines() {
        let death = Death {
            how: How::Exit(1),
            replay: 1,
            call: Call::Malloc,
            ops: 3,
            output: "one\n\ntwo  \nthree\n\n".to_owned(),
        };
        assert_eq!(death.last_words(), "two / three");
    }
}
