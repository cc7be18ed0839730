//! Keeps the connectivity checks that arrive before the answer is applied (RFC 8445 §7.3).
//!
//! A WHIP server answers our offer and at once sends its first STUN Binding request to our
//! candidates. That request often reaches our socket a millisecond before the HTTP answer
//! reaches us, while our ICE agent does not know the remote credentials yet; the agent drops it
//! unanswered, and the server only tries again after its own retransmission timer (500 ms for
//! aiortc). RFC 8445 §7.3 asks an agent to answer such a check once it can, or queue it.
//!
//! The WebRTC stack lets us bring our own runtime, so we do the queueing at the socket: until
//! the [`Gate`] opens (the code that applies the remote description opens it), inbound STUN
//! Binding requests are held back, a bounded number of them; when it opens they are delivered
//! first, in order, and the agent answers them with the credentials it now has. Every other
//! datagram, and everything after the gate opened, passes straight through.
//!
//! The same sockets show the connection's [`PathProbe`] the STUN traffic while ICE runs, and
//! name resolution tells it the addresses of the STUN/TURN servers, so that a failed search
//! can say what it tried.
//!
//! And they work around a latency bug of the stack (webrtc 0.21) on TURN-relayed paths. Its
//! driver loop sends what is queued at the top of an iteration, then hands relayed data
//! (ChannelData, Data indications) to the ICE/DTLS core at the end, and sends what the core
//! wrote for a relayed path only into the TURN client's queue, which is emptied first thing in
//! the *next* iteration. So the reply to a relayed connectivity check or DTLS flight waits for
//! the loop's next wake-up — a timer, up to seconds away — and the peer retransmits. When a
//! connection uses TURN, a datagram that may be relayed STUN or data (in either direction)
//! "kicks" the runtime: the driver's next sleeps end at once, so the loop comes round and
//! sends the reply now. (Worth fixing upstream: drain the core before the TURN client.)

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::path::{maybe_stun_or_channel_data, PathProbe};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

/// At most this many early requests are kept per socket; a server sends a handful at most,
/// and a flood of forged ones must not grow memory.
const MAX_HELD: usize = 32;

/// Opens once the remote description is applied; shared by the sockets of one connection.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    open: bool,
    // The latest waker of each socket's pending receive, by socket index.
    wakers: Vec<Option<Waker>>,
}

impl Gate {
    /// Lets the held requests through and stops holding new ones.
    pub(crate) fn open(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            state.open = true;
            state.wakers.iter_mut().filter_map(Option::take).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    fn is_open(&self) -> bool {
        self.lock().open
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add_socket(&self) -> usize {
        let mut state = self.lock();
        state.wakers.push(None);
        state.wakers.len() - 1
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("open", &self.is_open())
            .finish()
    }
}

/// A STUN Binding request: message type 0x0001 and the magic cookie (RFC 5389 §6).
fn is_binding_request(datagram: &[u8]) -> bool {
    datagram.len() >= 20 && datagram[0..2] == [0x00, 0x01] && datagram[4..8] == MAGIC_COOKIE
}

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

/// The library's runtime for one peer connection: the stack's own tokio runtime, with UDP
/// sockets that hold early checks until the connection's [`Gate`] opens and show the
/// connection's [`PathProbe`] what passes.
pub(crate) struct EarlyCheckRuntime {
    inner: Arc<dyn Runtime>,
    gate: Arc<Gate>,
    probe: Arc<PathProbe>,
    /// Set when relayed data may be waiting in the stack: ends its next sleeps.
    kick: Option<Arc<Kick>>,
}

/// Ends the stack's next `pending` sleeps at once.
#[derive(Default)]
pub(crate) struct Kick {
    pending: AtomicU32,
    notify: tokio::sync::Notify,
}

impl Kick {
    /// The next `rounds` sleeps (at least) end at once; one under way ends now.
    fn kick(&self, rounds: u32) {
        self.pending.fetch_max(rounds, Ordering::AcqRel);
        self.notify.notify_one();
    }

    /// Whether a sleep starting now should end at once (and count it).
    fn take(&self) -> bool {
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl EarlyCheckRuntime {
    /// `relaying`: the connection uses TURN, so relayed data must not wait for a timer.
    pub(crate) fn new(
        inner: Arc<dyn Runtime>,
        gate: Arc<Gate>,
        probe: Arc<PathProbe>,
        relaying: bool,
    ) -> Self {
        Self {
            inner,
            gate,
            probe,
            kick: relaying.then(Arc::default),
        }
    }
}

impl fmt::Debug for EarlyCheckRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EarlyCheckRuntime")
            .field("inner", &self.inner)
            .field("gate", &self.gate)
            .finish()
    }
}

impl Runtime for EarlyCheckRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(Arc::new(GatedSocket {
            inner,
            index: self.gate.add_socket(),
            gate: self.gate.clone(),
            probe: self.probe.clone(),
            kick: self.kick.clone(),
            held: Mutex::new(VecDeque::new()),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move {
            let resolved = self.inner.resolve_host(host).await;
            if let Ok(addrs) = &resolved {
                self.probe.resolved(host, addrs);
            }
            resolved
        })
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let sleep = self.inner.sleep(duration);
        match &self.kick {
            None => sleep,
            Some(kick) if kick.take() => Box::pin(std::future::ready(())),
            Some(kick) => {
                let kick = kick.clone();
                Box::pin(async move {
                    tokio::select! {
                        () = sleep => {}
                        () = kick.notify.notified() => {}
                    }
                })
            }
        }
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "libpublisher"
    }
}

struct GatedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    index: usize,
    gate: Arc<Gate>,
    probe: Arc<PathProbe>,
    kick: Option<Arc<Kick>>,
    held: Mutex<VecDeque<(Vec<u8>, RecvMeta)>>,
}

impl GatedSocket {
    fn held(&self) -> MutexGuard<'_, VecDeque<(Vec<u8>, RecvMeta)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for GatedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatedSocket")
            .field("inner", &self.inner)
            .field("held", &self.held().len())
            .finish()
    }
}

impl AsyncUdpSocket for GatedSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let sent = self.inner.poll_send(cx, transmit);
        if let Poll::Ready(Ok(_)) = sent {
            let segment = transmit
                .segment_size
                .unwrap_or(transmit.contents.len())
                .max(1);
            let mut kick = false;
            for datagram in transmit.contents.chunks(segment) {
                self.probe.outbound(datagram, transmit.destination);
                kick |= maybe_stun_or_channel_data(datagram);
            }
            // More of a relayed burst may be waiting in the TURN client's queue.
            if let (true, Some(k)) = (kick, &self.kick) {
                k.kick(1);
            }
        }
        sent
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let received = self.poll_recv_gated(cx, bufs, meta);
        if let Poll::Ready(Ok(n)) = received {
            let mut kick = false;
            for (buf, meta) in bufs.iter().zip(meta.iter()).take(n) {
                let data = &buf[..meta.len.min(buf.len())];
                for datagram in data.chunks(meta.stride.max(1)) {
                    self.probe.inbound(datagram, meta.addr);
                    kick |= maybe_stun_or_channel_data(datagram);
                }
            }
            // One round hands the data to the core, the next moves the reply into the TURN
            // client's queue; the send of that wakes one more round.
            if let (true, Some(k)) = (kick, &self.kick) {
                k.kick(2);
            }
        }
        received
    }
}

impl GatedSocket {
    fn poll_recv_gated(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        if bufs.is_empty() || meta.is_empty() {
            return self.inner.poll_recv(cx, bufs, meta);
        }
        if self.gate.is_open() {
            // What was held goes first, in arrival order.
            if let Some((datagram, held_meta)) = self.held().pop_front() {
                let len = datagram.len().min(bufs[0].len());
                bufs[0][..len].copy_from_slice(&datagram[..len]);
                meta[0] = held_meta;
                meta[0].len = len;
                meta[0].stride = held_meta.stride.clamp(1, len.max(1));
                return Poll::Ready(Ok(1));
            }
            return self.inner.poll_recv(cx, bufs, meta);
        }
        // One message at a time while closed, so each can be looked at.
        loop {
            match self.inner.poll_recv(cx, &mut bufs[..1], &mut meta[..1]) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    let received = meta[0];
                    let datagram = &bufs[0][..received.len.min(bufs[0].len())];
                    if !is_binding_request(datagram) {
                        return Poll::Ready(Ok(n));
                    }
                    let gate = self.gate.lock();
                    if gate.open {
                        return Poll::Ready(Ok(n));
                    }
                    let mut held = self.held();
                    if held.len() < MAX_HELD {
                        tracing::trace!(from = %received.addr, "holding an early connectivity check");
                        held.push_back((datagram.to_vec(), received));
                    }
                }
                Poll::Pending => {
                    let mut gate = self.gate.lock();
                    if gate.open {
                        // Opened meanwhile: come back at once for what was held.
                        cx.waker().wake_by_ref();
                    } else if let Some(slot) = gate.wakers.get_mut(self.index) {
                        *slot = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request() -> Vec<u8> {
        let mut m = vec![0x00, 0x01, 0x00, 0x00];
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m
    }

    #[test]
    fn recognises_binding_requests_only() {
        assert!(is_binding_request(&binding_request()));
        let mut response = binding_request();
        response[1] = 0x01;
        response[0] = 0x01; // 0x0101: Binding success response
        assert!(!is_binding_request(&response));
        let mut no_cookie = binding_request();
        no_cookie[4] = 0;
        assert!(!is_binding_request(&no_cookie));
        assert!(!is_binding_request(&binding_request()[..19]));
        // DTLS and RTP never start with 0x00 0x01 + cookie.
        assert!(!is_binding_request(&[0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0]));
    }

    /// Real sockets on loopback: a check sent before the gate opens is delivered after it,
    /// ahead of a later datagram; other traffic is never held.
    #[test]
    fn holds_early_checks_until_the_gate_opens() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let gate = Arc::new(Gate::default());
            let runtime = EarlyCheckRuntime::new(
                webrtc::runtime::default_runtime().unwrap(),
                gate.clone(),
                Arc::new(PathProbe::default()),
                false,
            );
            let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = std_socket.local_addr().unwrap();
            let socket = runtime.wrap_udp_socket(std_socket).unwrap();
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();

            let recv = |socket: Arc<dyn AsyncUdpSocket>| async move {
                let mut buf = vec![0u8; 1500];
                let (n, _) = socket.recv_from(&mut buf).await.unwrap();
                buf.truncate(n);
                buf
            };
            let within = |f| tokio::time::timeout(Duration::from_secs(2), f);

            peer.send_to(b"not stun", addr).unwrap();
            assert_eq!(within(recv(socket.clone())).await.unwrap(), b"not stun");

            let first = binding_request();
            peer.send_to(&first, addr).unwrap();
            let early = tokio::time::timeout(Duration::from_millis(200), recv(socket.clone()));
            assert!(early.await.is_err(), "the early check must be held");
            let mut retransmitted = binding_request();
            retransmitted[19] = 8;
            peer.send_to(&retransmitted, addr).unwrap();
            let early = tokio::time::timeout(Duration::from_millis(200), recv(socket.clone()));
            assert!(early.await.is_err(), "the early check must be held");

            // Opening wakes a receive that is already waiting, with the held check.
            let waiting = tokio::spawn(recv(socket.clone()));
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.open();
            let woken = tokio::time::timeout(Duration::from_secs(2), waiting).await;
            assert_eq!(woken.unwrap().unwrap(), first);
            assert_eq!(within(recv(socket.clone())).await.unwrap(), retransmitted);

            // Once open, checks pass straight through.
            let mut second = binding_request();
            second[19] = 9;
            peer.send_to(&second, addr).unwrap();
            assert_eq!(within(recv(socket.clone())).await.unwrap(), second);
        });
    }
}
