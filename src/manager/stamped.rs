//! A client socket that knows when the kernel received what it reads: each read is a `recvmsg` with the
//! `SO_TIMESTAMPNS` control message, the software receive timestamp the kernel put on the newest segment
//! read. On loopback that is the moment the upstream's write reached this socket, so a message's latency
//! splits into the upstream's share (event time → the upstream wrote it on this socket, injected delay
//! included) and the delivery share (written → the subscriber's callback: the socket buffer, this process's
//! scheduler and the manager), with no help from the upstream, embedded, in its own process or external.
//!
//! The limit: a read that brings several frames carries the newest segment's time, so an older frame of a
//! backlog reads as written later than it was (its delivery share reads low, its upstream share high, by
//! at most the time between those writes).

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::mock::time::Micros;

/// A TCP stream whose reads note the kernel's receive time. It owns the socket through [`AsyncFd`], so a
/// short read clears the readiness at once (as tokio's own stream does) instead of costing a second,
/// empty `recvmsg` per message.
#[derive(Debug)]
pub struct Stamped {
    inner: AsyncFd<std::net::TcpStream>,
    /// The kernel's receive time of the newest data read (µs since the epoch; 0 before any, or where the
    /// kernel gives none).
    received: Micros,
    control: Vec<u8>,
}

impl Stamped {
    /// Asks the kernel to time-stamp what `inner` receives (without that, reads still work and carry no
    /// time).
    pub fn new(inner: TcpStream) -> io::Result<Self> {
        if let Err(e) = setsockopt(&inner, sockopt::ReceiveTimestampns, &true) {
            tracing::debug!("no receive timestamps on this socket: {e}");
        }
        let std = inner.into_std()?;
        // `AsyncFd::new` is deprecated because a type could hand it a file descriptor that it does not own
        // or that changes; a `std::net::TcpStream` owns its descriptor and always returns the same one,
        // which is the contract the replacement (`unsafe fn register`) asks for.
        #[allow(deprecated)]
        let inner = AsyncFd::new(std)?;
        Ok(Stamped { inner, received: 0, control: nix::cmsg_space!(nix::sys::time::TimeSpec) })
    }

    /// When the kernel received the newest data read (µs since the epoch; `None` when it gave no time: the
    /// kernel switches its timestamps on a moment after the first socket of the machine asks for them).
    pub fn received_at(&self) -> Option<Micros> {
        (self.received > 0).then_some(self.received)
    }
}

/// One non-blocking `recvmsg` into `buf`: the bytes read and the receive time, if the kernel gave one.
fn receive(fd: i32, buf: &mut [u8], control: &mut [u8]) -> io::Result<(usize, Option<Micros>)> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let message = recvmsg::<()>(fd, &mut iov, Some(control), MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)?;
    let mut at = None;
    if let Ok(messages) = message.cmsgs() {
        for cmsg in messages {
            if let ControlMessageOwned::ScmTimestampns(ts) = cmsg {
                let micros = ts.tv_sec() * 1_000_000 + ts.tv_nsec() / 1_000;
                at = u64::try_from(micros).ok();
            }
        }
    }
    Ok((message.bytes, at))
}

impl AsyncRead for Stamped {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.inner.poll_read_ready(cx))?;
            let fd = guard.get_inner().as_raw_fd();
            let unfilled = buf.initialize_unfilled();
            let wanted = unfilled.len();
            match receive(fd, unfilled, &mut this.control) {
                Ok((n, at)) => {
                    if n < wanted && n > 0 {
                        // The socket is drained: wait for the next readiness instead of asking again.
                        guard.clear_ready();
                    }
                    buf.advance(n);
                    if let Some(at) = at {
                        this.received = at;
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.inner.poll_write_ready(cx))?;
            match guard.try_io(|inner| inner.get_ref().write(buf)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket: nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.get_ref().shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_read_carries_the_time_the_kernel_received_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut stamped = Stamped::new(client).unwrap();
        assert_eq!(stamped.received_at(), None, "nothing read yet");
        // The kernel switches its receive timestamps on a moment after the first socket asks (deferred
        // work): until then segments carry no time. Round trips until one does, within a generous bound.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut buf = [0u8; 16];
        let (before, at, read) = loop {
            let before = crate::mock::time::now_micros();
            server.write_all(b"hello").await.unwrap();
            let n = stamped.read(&mut buf).await.unwrap();
            let read = crate::mock::time::now_micros();
            assert_eq!(&buf[..n], b"hello");
            if let Some(at) = stamped.received_at() {
                break (before, at, read);
            }
            assert!(std::time::Instant::now() < deadline, "the kernel never time-stamped a loopback segment");
            tokio::task::yield_now().await;
        };
        assert!((before..=read).contains(&at), "{before} ≤ {at} ≤ {read}: stamped between the write and the read");
        stamped.write_all(b"back").await.unwrap();
        let mut echo = [0u8; 4];
        server.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"back");
    }
}
