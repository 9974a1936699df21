//! Connections that know when their bytes arrived.
//!
//! Under a burst (a thousand streams whose first tokens land in the same millisecond), a
//! user-space timestamp taken when the tester gets round to a socket is late by however
//! long the sockets before it took. So each connection asks the kernel to stamp incoming
//! data (`SO_TIMESTAMPNS`), reads with `recvmsg`, and keeps the stamp of its latest read
//! in an [`RxStamp`] that travels with the response (hyper-util's `Connected::extra`).
//! The tester uses it for TTFT and inter-token gaps; without a stamp (not Linux, or the
//! option refused) it falls back to the moment it read the bytes. Likewise the moment a
//! request's bytes are handed to the kernel is kept, so a request that waited behind
//! others in the tester's own event loop is timed from when it really left.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// When a connection last received and sent: the kernel's receive stamp of its most
/// recent read (nanoseconds since the Unix epoch), and the moment its most recent write
/// was handed to the kernel (nanoseconds after [`Clock`]'s base). 0 until it happens.
#[derive(Debug, Clone, Default)]
pub struct RxStamp(Arc<(AtomicU64, AtomicU64)>);

impl RxStamp {
    /// The receive stamp as an [`Instant`], using `clock` to translate wall time.
    pub fn instant(&self, clock: &Clock) -> Option<Instant> {
        match self.0.0.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(clock.to_instant(ns)),
        }
    }

    /// When the most recent write went to the kernel.
    pub fn sent(&self) -> Option<Instant> {
        match self.0.1.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(process_base() + Duration::from_nanos(ns)),
        }
    }

    fn mark_sent(&self) {
        let ns = u64::try_from(process_base().elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        self.0.1.store(ns, Ordering::Relaxed);
    }
}

/// A fixed instant early in the process, against which write times are kept.
fn process_base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Translates wall-clock nanoseconds into [`Instant`]s.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall_ns: u64,
    mono: Instant,
}

impl Clock {
    /// Pair the two clocks now.
    pub fn now() -> Self {
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Clock {
            wall_ns,
            mono: Instant::now(),
        }
    }

    fn to_instant(self, ns: u64) -> Instant {
        if ns >= self.wall_ns {
            self.mono + Duration::from_nanos(ns - self.wall_ns)
        } else {
            self.mono
                .checked_sub(Duration::from_nanos(self.wall_ns - ns))
                .unwrap_or(self.mono)
        }
    }
}

/// A TCP stream that records the kernel receive time of what it reads.
#[derive(Debug)]
pub struct StampedStream {
    tcp: tokio::net::TcpStream,
    stamp: RxStamp,
}

impl StampedStream {
    /// Connect to `host:port` with receive timestamps switched on.
    pub async fn connect(host: &str, port: u16) -> io::Result<StampedStream> {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        // Refused on some systems: reads then go unstamped and the caller's clock is used.
        let _ = setsockopt(&tcp, sockopt::ReceiveTimestampns, &true);
        Ok(StampedStream {
            tcp,
            stamp: RxStamp::default(),
        })
    }

    fn recv(fd: RawFd, buf: &mut [u8], stamp: &RxStamp) -> io::Result<usize> {
        let mut iov = [io::IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let msg = recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)
            .map_err(io::Error::from)?;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmTimestampns(ts) = c {
                    let ns = u64::try_from(ts.tv_sec()).unwrap_or(0) * 1_000_000_000
                        + u64::try_from(ts.tv_nsec()).unwrap_or(0);
                    stamp.0.0.store(ns, Ordering::Relaxed);
                }
            }
        }
        Ok(msg.bytes)
    }
}

impl AsyncRead for StampedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let fd = this.tcp.as_raw_fd();
        loop {
            ready!(this.tcp.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match this
                .tcp
                .try_io(Interest::READABLE, || Self::recv(fd, unfilled, &this.stamp))
            {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for StampedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.tcp).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &written
            && *n > 0
        {
            this.stamp.mark_sent();
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

impl Connection for StampedStream {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.stamp.clone())
    }
}

/// hyper-util connector producing [`StampedStream`]s (plain HTTP).
#[derive(Debug, Clone, Default)]
pub struct StampedConnector;

impl tower_service::Service<Uri> for StampedConnector {
    type Response = TokioIo<StampedStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URL has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(80);
            Ok(TokioIo::new(StampedStream::connect(&host, port).await?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_carry_kernel_receive_stamps() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.write_all(b"hello").await.unwrap();
        });
        let clock = Clock::now();
        let mut c = StampedStream::connect("127.0.0.1", port).await.unwrap();
        assert!(c.stamp.sent().is_none());
        c.write_all(b"ping").await.unwrap();
        let sent = c.stamp.sent().expect("the write was stamped");
        let mut buf = [0u8; 16];
        let n = c.read(&mut buf).await.unwrap();
        let read_at = Instant::now();
        assert_eq!(&buf[..n], b"hello");
        let stamp = c
            .stamp
            .instant(&clock)
            .expect("the kernel stamped the read");
        assert!(
            stamp >= sent + Duration::from_millis(45),
            "stamp is when data arrived"
        );
        assert!(
            stamp <= read_at + Duration::from_millis(2),
            "stamp is not after we read it"
        );
        server.await.unwrap();
    }
}
