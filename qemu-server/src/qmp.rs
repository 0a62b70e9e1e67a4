//! An async QMP client over the VM's unix socket, built on the `qapi` crate.
//!
//! `QmpClient::connect` opens the socket, reads the greeting and negotiates
//! capabilities; commands are the typed ones of `qapi::qmp`, each with a
//! timeout (upstream's QMPClient uses per-command timeouts too: 3 s by default,
//! longer for commands that do I/O). Events arrive on a channel.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, format_err, Error};
use qapi::futures::{QapiService, QmpStreamTokio};
use qapi::qmp;
use tokio::io::WriteHalf;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

pub use qapi::qmp::{Event, RunState};

type Writer = QmpStreamTokio<WriteHalf<UnixStream>>;

/// Default timeout of a command, as upstream's QMPClient (3 seconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// A negotiated QMP connection.
pub struct QmpClient {
    service: QapiService<Writer>,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    reader: tokio::task::JoinHandle<()>,
    /// The socket, shut down on drop so that QEMU (one QMP client at a time) sees the
    /// close at once, even when the runtime that runs the reader is not polled again.
    fd: std::os::fd::RawFd,
    /// The greeting's QEMU version (major, minor, micro).
    pub version: (i64, i64, i64),
}

impl Drop for QmpClient {
    fn drop(&mut self) {
        // SAFETY: the fd stays open while `self.service` holds the write half.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        self.reader.abort();
    }
}

/// Upstream's timeout for a command (QMPClient / vm_qmp_command defaults).
pub fn default_timeout(command: &str) -> Duration {
    match command {
        // commands that may do I/O or wait for the guest
        "query-migrate" | "query-savevm" => Duration::from_secs(3),
        "block_resize" | "savevm-start" | "snapshot-save" | "snapshot-load" | "snapshot-delete"
        | "query-block-jobs" => Duration::from_secs(60),
        "quit" | "system_powerdown" => Duration::from_secs(10),
        "human-monitor-command" => Duration::from_secs(60),
        _ => DEFAULT_TIMEOUT,
    }
}

impl QmpClient {
    /// Connect to `socket`, read the greeting and negotiate capabilities,
    /// all within `timeout`.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Self, Error> {
        let mut raw_fd = -1;
        let fut = async {
            use std::os::fd::AsRawFd;
            let stream = UnixStream::connect(socket).await?;
            raw_fd = stream.as_raw_fd();
            let negotiation = QmpStreamTokio::open(stream).await?;
            let v = &negotiation.capabilities.QMP.version.qemu;
            let version = (v.major, v.minor, v.micro);
            let stream = negotiation.negotiate().await?;
            Ok::<_, std::io::Error>((stream, version))
        };
        let (stream, version) = match tokio::time::timeout(timeout, fut).await {
            Err(_) => bail!("unable to connect to QMP socket {socket:?} - timeout"),
            Ok(Err(err)) => bail!("unable to connect to QMP socket {socket:?} - {err}"),
            Ok(Ok(v)) => v,
        };
        let (service, mut events) = stream.into_parts();
        let (tx, rx) = mpsc::unbounded_channel();
        // The reader task routes responses to waiting commands and forwards events.
        let reader = tokio::spawn(async move {
            use futures::StreamExt;
            if events.release().is_err() {
                return;
            }
            while let Some(item) = events.next().await {
                match item {
                    Ok(ev) => {
                        let _ = tx.send(ev);
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Self {
            service,
            events: Some(rx),
            reader,
            fd: raw_fd,
            version,
        })
    }

    /// Connect with the default timeout.
    pub async fn open(socket: &Path) -> Result<Self, Error> {
        Self::connect(socket, DEFAULT_TIMEOUT).await
    }

    /// Take the event stream (once).
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<Event>> {
        self.events.take()
    }

    /// Execute a typed command with an explicit timeout.
    pub async fn execute_timeout<C>(&self, cmd: C, timeout: Duration) -> Result<C::Ok, Error>
    where
        C: qapi::Command + qmp::QmpCommand + serde::Serialize,
    {
        let name = <C as qapi::Command>::NAME;
        match tokio::time::timeout(timeout, self.service.execute(cmd)).await {
            Err(_) => bail!("VM qmp command '{name}' failed - got timeout"),
            Ok(Err(qapi::ExecuteError::Qapi(err))) => {
                bail!("VM qmp command '{name}' failed - {}", err.desc)
            }
            Ok(Err(qapi::ExecuteError::Io(err))) => {
                bail!("VM qmp command '{name}' failed - {err}")
            }
            Ok(Ok(res)) => Ok(res),
        }
    }

    /// Execute a typed command with its default timeout.
    pub async fn execute<C>(&self, cmd: C) -> Result<C::Ok, Error>
    where
        C: qapi::Command + qmp::QmpCommand + serde::Serialize,
    {
        let t = default_timeout(<C as qapi::Command>::NAME);
        self.execute_timeout(cmd, t).await
    }

    pub async fn query_status(&self) -> Result<qmp::StatusInfo, Error> {
        self.execute(qmp::query_status {}).await
    }

    /// The run state as QEMU names it ("running", "paused", ...).
    pub async fn status_name(&self) -> Result<String, Error> {
        let st = self.query_status().await?;
        Ok(run_state_name(st.status))
    }

    pub async fn query_version(&self) -> Result<qmp::VersionInfo, Error> {
        self.execute(qmp::query_version {}).await
    }

    pub async fn system_powerdown(&self) -> Result<(), Error> {
        self.execute(qmp::system_powerdown {}).await.map(drop)
    }

    pub async fn system_reset(&self) -> Result<(), Error> {
        self.execute(qmp::system_reset {}).await.map(drop)
    }

    pub async fn stop(&self) -> Result<(), Error> {
        self.execute(qmp::stop {}).await.map(drop)
    }

    pub async fn cont(&self) -> Result<(), Error> {
        self.execute(qmp::cont {}).await.map(drop)
    }

    /// Ask QEMU to quit. The connection closes as QEMU exits, which may race
    /// the response: an I/O error after sending counts as success.
    pub async fn quit(&self) -> Result<(), Error> {
        match tokio::time::timeout(default_timeout("quit"), self.service.execute(qmp::quit {}))
            .await
        {
            Err(_) => bail!("VM qmp command 'quit' failed - got timeout"),
            Ok(Err(qapi::ExecuteError::Qapi(err))) => {
                bail!("VM qmp command 'quit' failed - {}", err.desc)
            }
            Ok(_) => Ok(()),
        }
    }

    pub async fn human_monitor_command(&self, line: &str) -> Result<String, Error> {
        self.execute(qmp::human_monitor_command {
            command_line: line.to_string(),
            cpu_index: None,
        })
        .await
    }

    /// Send a key combination in upstream's notation ("ctrl-alt-delete").
    pub async fn send_key(&self, combo: &str) -> Result<(), Error> {
        let mut keys = Vec::new();
        for k in combo.split('-') {
            let code: qmp::QKeyCode = serde_json::from_value(serde_json::Value::String(k.into()))
                .map_err(|_| format_err!("invalid key '{k}'"))?;
            keys.push(qmp::KeyValue::qcode(qmp::QKeyCodeWrapper { data: code }));
        }
        self.execute(qmp::send_key {
            keys,
            hold_time: None,
        })
        .await
        .map(drop)
    }

    pub async fn block_resize(&self, device: &str, size: i64) -> Result<(), Error> {
        self.execute(qmp::block_resize {
            device: Some(device.to_string()),
            node_name: None,
            size,
        })
        .await
        .map(drop)
    }

    /// Internal qcow2 snapshot of a block node while the VM runs (or is paused).
    pub async fn blockdev_snapshot_internal_sync(
        &self,
        device: &str,
        name: &str,
    ) -> Result<(), Error> {
        self.execute(qmp::blockdev_snapshot_internal_sync(
            qmp::BlockdevSnapshotInternal {
                device: device.to_string(),
                name: name.to_string(),
            },
        ))
        .await
        .map(drop)
    }

    pub async fn blockdev_snapshot_delete_internal_sync(
        &self,
        device: &str,
        name: &str,
    ) -> Result<(), Error> {
        self.execute(qmp::blockdev_snapshot_delete_internal_sync {
            device: device.to_string(),
            id: None,
            name: Some(name.to_string()),
        })
        .await
        .map(drop)
    }

    /// Starts an outgoing migration (`file:PATH` saves the VM state into a file).
    pub async fn migrate(&self, uri: &str) -> Result<(), Error> {
        self.execute(qmp::migrate {
            uri: Some(uri.to_string()),
            channels: None,
            detach: None,
            resume: None,
        })
        .await
        .map(drop)
    }

    /// Loads an incoming migration into a QEMU started with `-incoming defer`.
    pub async fn migrate_incoming(&self, uri: &str) -> Result<(), Error> {
        self.execute(qmp::migrate_incoming {
            uri: Some(uri.to_string()),
            channels: None,
            exit_on_error: None,
        })
        .await
        .map(drop)
    }

    /// `query-migrate`: the status name (`active`, `completed`, `failed`, ...; empty
    /// when no migration ran) and the error text of a failed one.
    pub async fn migrate_status(&self) -> Result<(String, Option<String>), Error> {
        let info = self.execute(qmp::query_migrate {}).await?;
        let status = info
            .status
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok((status, info.error_desc))
    }

    /// Waits until the running migration completed (errors when it failed).
    pub async fn wait_migration(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (status, err) = self.migrate_status().await?;
            match status.as_str() {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    bail!(
                        "migration {status}: {}",
                        err.unwrap_or_else(|| "unknown error".into())
                    )
                }
                _ => {}
            }
            if tokio::time::Instant::now() > deadline {
                bail!("migration did not complete within {}s", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `query-machines`: (name, alias) of every machine type.
    pub async fn machines(&self) -> Result<Vec<(String, Option<String>)>, Error> {
        let list = self
            .execute(qmp::query_machines { compat_props: None })
            .await?;
        Ok(list.into_iter().map(|m| (m.name, m.alias)).collect())
    }

    /// `block_resize` of a block node (the `drive-KEY` node of a `-blockdev` drive).
    pub async fn block_resize_node(&self, node_name: &str, size: i64) -> Result<(), Error> {
        self.execute(qmp::block_resize {
            device: None,
            node_name: Some(node_name.to_string()),
            size,
        })
        .await
        .map(drop)
    }

    pub async fn query_cpus_fast(&self) -> Result<Vec<qmp::CpuInfoFast>, Error> {
        self.execute(qmp::query_cpus_fast {}).await
    }

    pub async fn query_balloon(&self) -> Result<qmp::BalloonInfo, Error> {
        self.execute(qmp::query_balloon {}).await
    }
}

/// QEMU's name of a run state.
pub fn run_state_name(state: RunState) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{state:?}"),
    }
}

/// Name of an event ("SHUTDOWN", "STOP", ...).
pub fn event_name(ev: &Event) -> String {
    match serde_json::to_value(ev) {
        Ok(serde_json::Value::Object(o)) => o
            .get("event")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}
