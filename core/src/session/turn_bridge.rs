//! TURN over TCP and TLS for a WebRTC stack whose TURN client speaks UDP only.
//!
//! The stack (webrtc 0.21) allocates relays over UDP and skips `?transport=tcp` and `turns:`
//! URLs. For each such URL the session starts a [`TurnBridge`]: a UDP socket on loopback that
//! the stack is given as its TURN server (`turn:127.0.0.1:PORT`). Each stack socket that talks
//! to the bridge gets its own TCP (or TLS) connection to the real server, and the bridge moves
//! whole messages between the two: STUN messages (length in their header) and ChannelData
//! (padded to four bytes on a stream, RFC 8656 §12.5). The server sees an ordinary TURN client
//! on TCP/TLS; the relayed media itself is UDP from the server onwards, as with any TURN/TCP.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ice::{IceTransport, IceUrl};
use super::path::PathProbe;

/// How long connecting (TCP, then TLS) to the TURN server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Datagrams queued per connection while it connects; more are dropped, as UDP would.
const QUEUE: usize = 256;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A running bridge; dropping it closes its socket and connections.
pub(crate) struct TurnBridge {
    local: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TurnBridge {
    /// Starts a bridge to `url`'s server (TCP or TLS); the probe hears when it is unreachable.
    pub(crate) async fn start(url: &IceUrl, probe: Arc<PathProbe>) -> io::Result<TurnBridge> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let local = socket.local_addr()?;
        let target = Arc::new(Target {
            host: url.host.clone(),
            port: url.port,
            tls: url.transport == IceTransport::TurnTls,
            key: local.to_string(),
            probe,
        });
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let pump = crate::runtime::runtime().spawn(pump(socket, target, tasks.clone()));
        lock(&tasks).push(pump);
        Ok(TurnBridge { local, tasks })
    }

    /// The address the stack is given as its TURN server.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for TurnBridge {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Target {
    host: String,
    port: u16,
    tls: bool,
    /// The bridge's own address: the probe's key for this server.
    key: String,
    probe: Arc<PathProbe>,
}

impl Target {
    fn describe(&self) -> String {
        format!(
            "{}:{} over {}",
            self.host,
            self.port,
            if self.tls { "TLS" } else { "TCP" }
        )
    }
}

/// Reads what the stack sends and hands it to the connection of its socket.
async fn pump(socket: Arc<UdpSocket>, target: Arc<Target>, tasks: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    let mut connections: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors surface here on Linux; the socket itself stays usable.
                tracing::trace!("TURN bridge receive: {e}");
                continue;
            }
        };
        let tx = connections.entry(from).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let task = crate::runtime::runtime().spawn(connection(
                socket.clone(),
                from,
                target.clone(),
                rx,
            ));
            lock(&tasks).push(task);
            tx
        });
        // A full queue or a connection that ended drops the datagram, as a network would.
        let _ = tx.try_send(buf[..n].to_vec());
    }
}

/// One stack socket's connection to the server.
async fn connection(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    target: Arc<Target>,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&target)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(why)) => {
            tracing::info!("TURN server {}: {why}", target.describe());
            target.probe.unreachable(&target.key, why);
            return;
        }
        Err(_) => {
            let why = format!(
                "no connection to {} within {} ms",
                target.describe(),
                CONNECT_TIMEOUT.as_millis()
            );
            tracing::info!("{why}");
            target.probe.unreachable(&target.key, why);
            return;
        }
    };
    tracing::debug!("TURN bridge {} ↔ {}", peer, target.describe());
    let (mut reader, mut writer) = tokio::io::split(stream);
    let upstream = async {
        while let Some(mut message) = outgoing.recv().await {
            // ChannelData is padded to a multiple of four bytes on a stream.
            message.resize(message.len().div_ceil(4) * 4, 0);
            writer.write_all(&message).await?;
        }
        io::Result::Ok(())
    };
    let downstream = async {
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16_384];
        loop {
            let n = reader.read(&mut chunk).await?;
            if n == 0 {
                return io::Result::Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(len) = frame_length(&buf)? {
                if buf.len() < len {
                    break;
                }
                socket.send_to(&buf[..len], peer).await?;
                buf.drain(..len);
            }
        }
    };
    let ended = tokio::select! {
        r = upstream => r,
        r = downstream => r,
    };
    match ended {
        Ok(()) => tracing::debug!("TURN connection to {} closed", target.describe()),
        Err(e) => tracing::debug!("TURN connection to {} ended: {e}", target.describe()),
    }
}

async fn connect(target: &Target) -> Result<Box<dyn Stream>, String> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            format!(
                "cannot connect over TCP to {}:{} ({e})",
                target.host, target.port
            )
        })?;
    let _ = tcp.set_nodelay(true);
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| format!("{:?} is not a TLS server name ({e})", target.host))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}:{} failed ({e})", target.host, target.port))?;
    Ok(Box::new(tls))
}

/// TLS with the system's trust store (as the WHIP client uses), on ring.
pub(super) fn tls_config() -> Arc<tokio_rustls::rustls::ClientConfig> {
    use tokio_rustls::rustls;
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::warn!("system certificates: {e}");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!("TLS roots for TURN: {added} added, {ignored} ignored");
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// The length of the message at the start of a TURN byte stream: a STUN message (two zero
/// bits, then the body length) or ChannelData (0b01, then the data length, padded to four).
/// `None` until four bytes are there; an error for anything else.
fn frame_length(buf: &[u8]) -> io::Result<Option<usize>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    match buf[0] >> 6 {
        0 => Ok(Some(20 + length)),
        1 => Ok(Some(4 + length.div_ceil(4) * 4)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the TURN server sent something that is neither STUN nor ChannelData",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stun_and_padded_channel_data() {
        assert_eq!(frame_length(&[0, 1, 0]).unwrap(), None);
        assert_eq!(frame_length(&[0x01, 0x03, 0, 12]).unwrap(), Some(32));
        assert_eq!(frame_length(&[0x40, 0x00, 0, 5]).unwrap(), Some(12));
        assert_eq!(frame_length(&[0x40, 0x01, 0, 8]).unwrap(), Some(12));
        assert!(frame_length(&[0x80, 0, 0, 0]).is_err());
    }

    /// Datagrams go to the server as a stream, padded; what the server writes comes back as
    /// datagrams, one message each, however the stream splits them; a refused connection is
    /// reported to the probe.
    #[test]
    fn bridges_datagrams_and_a_stream() {
        crate::runtime::runtime().block_on(async {
            let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = server.local_addr().unwrap().port();
            let url = IceUrl::parse(&format!("turn:127.0.0.1:{port}?transport=tcp")).unwrap();
            let probe = Arc::new(PathProbe::default());
            let bridge = TurnBridge::start(&url, probe.clone()).await.unwrap();
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut stun = vec![0x00, 0x03, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42];
            stun.extend_from_slice(&[7; 12]);
            stun.extend_from_slice(&[1, 2, 3, 4]);
            client.send_to(&stun, bridge.local_addr()).await.unwrap();
            client
                .send_to(&[0x40, 0x00, 0x00, 0x03, 9, 9, 9], bridge.local_addr())
                .await
                .unwrap();
            let (mut conn, _) = server.accept().await.unwrap();
            let mut got = vec![0u8; stun.len() + 8];
            conn.read_exact(&mut got).await.unwrap();
            assert_eq!(&got[..stun.len()], &stun[..]);
            assert_eq!(&got[stun.len()..], &[0x40, 0x00, 0x00, 0x03, 9, 9, 9, 0]);
            // Two messages in three writes.
            let mut back = stun.clone();
            back[1] = 0x03;
            back[0] = 0x01;
            let data = [0x40, 0x01, 0x00, 0x02, 5, 5, 0, 0];
            let stream: Vec<u8> = [&back[..], &data[..]].concat();
            for piece in [&stream[..3], &stream[3..25], &stream[25..]] {
                conn.write_all(piece).await.unwrap();
                conn.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut buf = [0u8; 100];
            let (n, _) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &back[..]);
            let (n, _) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &data[..]);

            // A server that is not there.
            drop(server);
            let url = IceUrl::parse(&format!("turn:127.0.0.1:{port}?transport=tcp")).unwrap();
            let probe = Arc::new(PathProbe::default());
            let bridge = TurnBridge::start(&url, probe.clone()).await.unwrap();
            let key = bridge.local_addr().to_string();
            probe.register("turn:x?transport=tcp", IceTransport::TurnTcp, key);
            client.send_to(&stun, bridge.local_addr()).await.unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while !probe.settled() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            match &probe.report().servers[0].outcome {
                super::super::path::ServerOutcome::Unreachable(why) => {
                    assert!(why.contains("cannot connect over TCP"), "{why}")
                }
                other => panic!("{other:?}"),
            }
        });
    }
}
