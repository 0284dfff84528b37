//! What the simulators share: an axum app served on loopback with a graceful stop,
//! beside the generator task that makes the building's events; and the vendor clock's
//! skew switch of the soak.

use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running simulator's server and generator. Dropping it stops both abruptly;
/// [`Served::shutdown`] lets in-flight requests finish.
pub struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    generator: Option<JoinHandle<()>>,
}

impl Served {
    /// Serve `app` on `listener` until shut down; `generator` runs beside it.
    pub fn start(
        listener: TcpListener,
        app: Router,
        generator: JoinHandle<()>,
    ) -> std::io::Result<Served> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Served {
            addr,
            stop: Some(stop),
            server: Some(server),
            generator: Some(generator),
        })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting connections, finish in-flight requests, stop the generator.
    pub async fn shutdown(&mut self) {
        if let Some(g) = self.generator.take() {
            g.abort();
        }
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(g) = self.generator.take() {
            g.abort();
        }
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

/// How far a simulated vendor's clock is set off the true one (the soak's clock skew
/// switch: a server whose clock is wrong, or steps when it is corrected).
#[derive(Debug, Default)]
pub struct Skew(AtomicI64);

impl Skew {
    pub fn set(&self, skew: chrono::Duration) {
        self.0.store(skew.num_milliseconds(), Ordering::SeqCst);
    }

    pub fn get(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.ms())
    }

    pub fn ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_until_shut_down_and_stops_the_generator() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "up" }));
        let generator = tokio::spawn(std::future::pending::<()>());
        let mut served = Served::start(listener, app, generator).unwrap();
        let body = reqwest::get(served.base_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "up");
        let addr = served.addr();
        served.shutdown().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still listening"
        );
    }

    #[test]
    fn skew_reads_back_what_was_set() {
        let skew = Skew::default();
        assert_eq!(skew.get(), chrono::Duration::zero());
        skew.set(chrono::Duration::minutes(-5));
        assert_eq!(skew.ms(), -300_000);
        assert_eq!(skew.get(), chrono::Duration::minutes(-5));
    }
}
