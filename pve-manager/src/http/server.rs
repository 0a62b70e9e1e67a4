//! Listening and connections: HTTP/1.1 with keep-alive, optional TLS (openssl), header
//! limits, and a graceful stop that lets running requests finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::handler::{handle, into_response, Compression};
use super::ServerContext;

/// Certificate chain and key (PEM) for TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A running server: its address and the switch that stops it.
pub struct Listening {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    /// Stops accepting, lets open requests finish (at most `grace`), then returns.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace, self.task).await;
    }
}

fn acceptor(tls: &TlsFiles) -> std::io::Result<SslAcceptor> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(std::io::Error::other)?;
    b.set_certificate_chain_file(&tls.cert)
        .map_err(std::io::Error::other)?;
    b.set_private_key_file(&tls.key, SslFiletype::PEM)
        .map_err(std::io::Error::other)?;
    b.check_private_key().map_err(std::io::Error::other)?;
    Ok(b.build())
}

/// Binds `addr` and serves `ctx` until shut down.
pub async fn serve(
    ctx: Arc<ServerContext>,
    addr: SocketAddr,
    tls: Option<TlsFiles>,
) -> std::io::Result<Listening> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let acceptor = tls.as_ref().map(acceptor).transpose()?.map(Arc::new);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(_) => continue,
                },
                _ = stopped.changed() => break,
            };
            let _ = stream.set_nodelay(true);
            let ctx = ctx.clone();
            let service = service_fn(move |req| {
                let ctx = ctx.clone();
                async move {
                    let compression = Compression::accepted(req.headers());
                    Ok::<_, Infallible>(into_response(handle(ctx, peer, req).await, compression))
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .keep_alive(true)
                .max_headers(64)
                .max_buf_size(64 * 1024);
            match &acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let watched = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _ = watched.await;
                    });
                }
                Some(acc) => {
                    let acc = acc.clone();
                    let graceful_conn = graceful_watch_tls(&graceful);
                    tokio::spawn(async move {
                        let Ok(ssl) = Ssl::new(acc.context()) else {
                            return;
                        };
                        let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, stream) else {
                            return;
                        };
                        if std::pin::Pin::new(&mut tls).accept().await.is_err() {
                            return;
                        }
                        let conn = builder.serve_connection(TokioIo::new(tls), service);
                        let _ = graceful_conn.watch(conn).await;
                    });
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    });
    Ok(Listening { addr, stop, task })
}

/// A handle to register a TLS connection once its handshake is done.
fn graceful_watch_tls(
    g: &hyper_util::server::graceful::GracefulShutdown,
) -> hyper_util::server::graceful::Watcher {
    g.watcher()
}
