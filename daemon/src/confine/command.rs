//! The parent's side: the `chute confine … -- PROGRAM` command line with the child's
//! environment rebuilt from an allow-list, and the started child as a process group
//! that is killed as a whole.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use super::lines::BoundedLines;

/// The only PATH a child sees.
pub const SAFE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The locale every child runs in.
const LOCALE: &str = "C.UTF-8";

/// Variables every child takes from the daemon when they are set: the dynamic linker's
/// path is the operator's (chute itself may need it to start, and the trampoline is
/// chute).
const BASE_PASSED: &[&str] = &["LD_LIBRARY_PATH"];

/// Variables a GStreamer child (decoder, render) takes from the daemon when set: where
/// plugins and fonts are, the time zone, GStreamer's debug switches. Never a prefix
/// match: `GST_REGISTRY` is ours to set.
const GSTREAMER_PASSED: &[&str] = &[
    "GST_PLUGIN_PATH",
    "GST_PLUGIN_PATH_1_0",
    "GST_PLUGIN_SYSTEM_PATH",
    "GST_PLUGIN_SYSTEM_PATH_1_0",
    "GST_PLUGIN_SCANNER",
    "GST_PLUGIN_SCANNER_1_0",
    "GST_DEBUG",
    "GST_DEBUG_NO_COLOR",
    "FONTCONFIG_FILE",
    "FONTCONFIG_PATH",
    "XDG_DATA_DIRS",
    "TZ",
];

/// What one confined child may do; [`Policy::command`] turns it into the command line
/// that starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    cpu_seconds: u64,
    file_size: u64,
    memory: Option<u64>,
    writable: Vec<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

impl Policy {
    /// A child stopped by its parent after `wall`, whose CPU time is capped at what
    /// `cores` cores give in that time (0: this machine's; see
    /// [`super::cpu_seconds`]), that writes no file larger than `file_size` bytes and
    /// writes nowhere until [`Policy::writable`] says where.
    pub fn new(wall: Duration, cores: u32, file_size: u64) -> Self {
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), SAFE_PATH.into()),
            ("LANG".into(), LOCALE.into()),
            ("LC_ALL".into(), LOCALE.into()),
        ];
        env.extend(passed_from_daemon(BASE_PASSED));
        Self {
            cpu_seconds: super::cpu_seconds(wall, cores),
            file_size,
            memory: None,
            writable: Vec::new(),
            env,
        }
    }

    /// Limits the child's address space (RLIMIT_AS) to `bytes`.
    pub fn memory(mut self, bytes: u64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Lets the child create, write and remove files beneath `path` (a folder) or
    /// write `path` (a file).
    pub fn writable(mut self, path: impl Into<PathBuf>) -> Self {
        self.writable.push(path.into());
        self
    }

    /// Sets `key` in the child's environment.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        let key = key.into();
        self.env.retain(|(existing, _)| *existing != key);
        self.env.push((key, value.into()));
        self
    }

    /// Passes the daemon's `key` on to the child when it is set.
    pub fn pass_env(mut self, key: &str) -> Self {
        self.env.extend(passed_from_daemon(&[key]));
        self
    }

    /// What a GStreamer child needs: plugin and font locations from the daemon's
    /// environment, the plugin registry chute keeps (see [`super::gstreamer`]), and
    /// glibc's arenas bounded (64 MiB of address space per thread arena would
    /// otherwise eat the memory limit with GStreamer's threads).
    pub fn gstreamer(mut self) -> Self {
        self.env.extend(passed_from_daemon(GSTREAMER_PASSED));
        if let Some(registry) = super::gstreamer::registry_path() {
            self = self.env("GST_REGISTRY", registry);
        }
        self.env("MALLOC_ARENA_MAX", "2")
    }

    /// The CPU seconds the child gets.
    pub fn cpu_limit(&self) -> u64 {
        self.cpu_seconds
    }

    /// The environment the child gets.
    pub fn environment(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// `executable confine LIMITS…` with the environment, process group and stdin set
    /// up, without the program (the probe and the registry preparation add a flag
    /// instead).
    pub fn trampoline(&self, executable: &Path) -> Command {
        let mut command = Command::new(executable);
        command
            .arg("confine")
            .arg("--cpu-seconds")
            .arg(self.cpu_seconds.to_string())
            .arg("--file-size")
            .arg(self.file_size.to_string())
            .arg("--open-files")
            .arg(super::OPEN_FILES.to_string());
        if let Some(memory) = self.memory {
            command.arg("--memory").arg(memory.to_string());
        }
        for path in &self.writable {
            command.arg("--write").arg(path);
        }
        command
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .process_group(0)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// `executable confine LIMITS… -- program`: add the program's arguments and stdio,
    /// then [`ConfinedChild::spawn`] it.
    pub fn command(&self, executable: &Path, program: impl AsRef<OsStr>) -> Command {
        let mut command = self.trampoline(executable);
        command.arg("--").arg(program);
        command
    }
}

fn passed_from_daemon(keys: &[&str]) -> Vec<(OsString, OsString)> {
    keys.iter()
        .filter_map(|key| {
            std::env::var_os(key)
                .filter(|value| !value.is_empty())
                .map(|value| (OsString::from(key), value))
        })
        .collect()
}

/// A started confined child: the leader of its own process group. On a timeout, a
/// cancel or a drop the whole group is killed (GStreamer may have started
/// gst-plugin-scanner, a shell its own children), not just the process we started.
#[derive(Debug)]
pub struct ConfinedChild {
    child: Child,
    /// The group to kill; `None` once the leader was reaped, because its number may
    /// then be given to another process.
    group: Option<Pid>,
}

impl ConfinedChild {
    /// Starts `command` (from [`Policy::command`]).
    pub fn spawn(command: &mut Command) -> std::io::Result<Self> {
        let child = command.spawn()?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        Ok(Self { child, group })
    }

    /// The leader's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The child's stdin, if piped (once).
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The child's stdout, if piped (once).
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr, if piped (once).
    pub fn stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Waits for the leader to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        self.group = None;
        Ok(status)
    }

    /// Kills the whole group now (SIGKILL to every process in it).
    pub fn kill(&mut self) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        let _ = self.child.start_kill();
    }

    /// Kills the whole group and reaps the leader.
    pub async fn kill_and_wait(&mut self) {
        self.kill();
        let _ = self.wait().await;
    }

    /// Reads stdout and stderr to their ends (each kept up to `cap` bytes, the rest
    /// dropped) and waits for the exit.
    pub async fn output(&mut self, cap: usize) -> std::io::Result<Output> {
        async fn read(pipe: Option<impl tokio::io::AsyncRead + Unpin>, cap: usize) -> Vec<u8> {
            match pipe {
                Some(pipe) => BoundedLines::new(pipe, cap)
                    .read_capped()
                    .await
                    .unwrap_or_default(),
                None => Vec::new(),
            }
        }
        let (stdout, stderr) = tokio::join!(read(self.stdout(), cap), read(self.stderr(), cap));
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for ConfinedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An exit status for people: `exit code 101`, `killed by signal 11 (SIGSEGV)`, with
/// what the confinement's signals mean.
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return match code {
            125 => "exit code 125 (it could not be confined)".to_owned(),
            _ => format!("exit code {code}"),
        };
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                4 => " (SIGILL)",
                5 => " (SIGTRAP)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                24 => " (SIGXCPU: it used up its CPU time)",
                25 => " (SIGXFSZ: it wrote a file larger than allowed)",
                31 => " (SIGSYS)",
                _ => "",
            };
            format!("killed by signal {signal}{name}")
        }
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_environment_is_built_from_an_allow_list() {
        let policy = Policy::new(Duration::from_secs(60), 1, 0).gstreamer();
        let keys: Vec<&OsStr> = policy
            .environment()
            .iter()
            .map(|(key, _)| key.as_os_str())
            .collect();
        for key in ["PATH", "LANG", "LC_ALL", "MALLOC_ARENA_MAX"] {
            assert!(keys.contains(&OsStr::new(key)), "{key}");
        }
        for key in keys {
            let key = key.to_string_lossy();
            assert!(
                ["PATH", "LANG", "LC_ALL", "MALLOC_ARENA_MAX", "GST_REGISTRY"]
                    .contains(&key.as_ref())
                    || BASE_PASSED.contains(&key.as_ref())
                    || GSTREAMER_PASSED.contains(&key.as_ref()),
                "{key} is not on the allow-list"
            );
        }
        let path = policy
            .environment()
            .iter()
            .find(|(key, _)| key == "PATH")
            .map(|(_, value)| value.clone());
        assert_eq!(path, Some(SAFE_PATH.into()));
    }

    #[test]
    fn a_later_value_replaces_an_earlier_one() {
        let policy = Policy::new(Duration::from_secs(1), 1, 0).env("LANG", "vi_VN.UTF-8");
        let langs: Vec<_> = policy
            .environment()
            .iter()
            .filter(|(key, _)| key == "LANG")
            .collect();
        assert_eq!(langs.len(), 1);
        assert_eq!(langs[0].1, "vi_VN.UTF-8");
    }
}
