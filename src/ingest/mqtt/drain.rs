//! Taking a message above the read limit without holding it.
//!
//! rumqttc refuses a packet longer than its read limit as soon as it has read the packet's
//! fixed header, and drops the connection; the broker then redelivers the same QoS 1 message on
//! the persistent session, forever. To get past it, the source opens one short connection of
//! its own with the same client id and session ([`drain`]) and reads the packets the broker
//! resends with a [`Skimmer`]: it parses fixed headers, topic lengths and packet ids and skips
//! everything else, so it holds [`CHUNK`] bytes whatever the message's size. A [`Plan`] decides
//! per packet: a PUBLISH above the limit is skipped, acknowledged (so the broker drops it) and
//! counted; a PUBLISH within the limit is skipped *without* acknowledgement, so the broker
//! delivers it again to the regular connection; the drain ends at the first such message after
//! an oversize one, or after [`IDLE`] without a byte. Then the regular connection resumes.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::skim::{Head, SkimError, Skimmed, Skimmer};

/// Bytes read from the socket at a time while skimming: all a drain holds of a message.
pub const CHUNK: usize = 16 * 1024;
/// Between packets, this long without a byte ends the drain: the broker resent what it had.
pub const IDLE: Duration = Duration::from_secs(1);
/// Time to connect and get CONNACK, and to see the broker close after our DISCONNECT.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What to do after a skimmed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// Send PUBACK for this packet id (an oversize message fully read).
    Ack(u16),
    /// Close: the oversize messages are behind us.
    Stop,
}

/// The drain's decisions: which messages are taken (acknowledged and counted) and when to stop.
#[derive(Debug)]
pub struct Plan {
    /// Largest remaining length the regular connection reads.
    limit: usize,
    /// Oversize messages read (and, at QoS 1, acknowledged).
    pub taken: u64,
    /// Messages within the limit skipped unacknowledged (the broker delivers them again).
    pub left_for_later: u64,
    ack_at_end: Option<u16>,
}

impl Plan {
    pub fn new(limit: usize) -> Plan {
        Plan {
            limit,
            taken: 0,
            left_for_later: 0,
            ack_at_end: None,
        }
    }

    pub fn on(&mut self, event: Skimmed) -> Step {
        match event {
            Skimmed::Head(Head::Publish { qos, pkid, len }) if len > self.limit => {
                self.taken += 1;
                // QoS 2 cannot arrive (subscriptions are QoS 1); it would need PUBREC, so it
                // is counted but left alone.
                self.ack_at_end = if qos == 1 { pkid } else { None };
                Step::Continue
            }
            Skimmed::Head(Head::Publish { .. }) => {
                if self.taken > 0 {
                    Step::Stop
                } else {
                    self.left_for_later += 1;
                    Step::Continue
                }
            }
            Skimmed::Head(Head::Other { .. }) => Step::Continue,
            Skimmed::End => match self.ack_at_end.take() {
                Some(pkid) => Step::Ack(pkid),
                None => Step::Continue,
            },
        }
    }
}

/// Who to connect to: the source's broker, session and credentials.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub keep_alive: Duration,
    pub credentials: Option<(String, crate::config::Secret)>,
    /// `Some` for TLS: the connector built from the source's CA (or the system roots).
    pub tls: Option<rumqttc::tokio_native_tls::TlsConnector>,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] rumqttc::tokio_native_tls::native_tls::Error),
    #[error("timed out")]
    Timeout,
    #[error("broker closed the connection")]
    Closed,
    #[error("not a CONNACK: {0:02x?}")]
    NotConnAck([u8; 4]),
    #[error("connection refused, return code {0}")]
    Refused(u8),
    #[error(transparent)]
    Skim(#[from] SkimError),
    #[error("shutting down")]
    Shutdown,
}

/// What one drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub taken: u64,
    pub left_for_later: u64,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The MQTT 3.1.1 CONNECT this source sends: persistent session, no will.
pub fn connect_packet(
    client_id: &str,
    keep_alive_secs: u16,
    login: Option<(&str, &str)>,
) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        // MQTT strings are at most 65535 bytes; longer ones are refused at validation.
        let n = u16::try_from(s.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&s[..usize::from(n)]);
    }
    let mut body = Vec::new();
    string(&mut body, b"MQTT");
    body.push(4);
    // As rumqttc does: an empty username or password is left out.
    let (user, pass) = login.unwrap_or(("", ""));
    let flags = if user.is_empty() { 0 } else { 0x80 } | if pass.is_empty() { 0 } else { 0x40 };
    body.push(flags);
    body.extend_from_slice(&keep_alive_secs.to_be_bytes());
    string(&mut body, client_id.as_bytes());
    for field in [user, pass] {
        if !field.is_empty() {
            string(&mut body, field.as_bytes());
        }
    }
    let mut packet = vec![0x10];
    let mut n = body.len();
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        packet.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    packet.extend_from_slice(&body);
    packet
}

/// One drain connection: takes the oversize messages the broker resends on `target`'s session
/// (those with a remaining length above `limit`), acknowledges them and returns how many.
pub async fn drain(
    target: &Target,
    limit: usize,
    shutdown: &CancellationToken,
) -> Result<Outcome, DrainError> {
    tokio::select! {
        _ = shutdown.cancelled() => Err(DrainError::Shutdown),
        r = drain_inner(target, limit) => r,
    }
}

async fn drain_inner(target: &Target, limit: usize) -> Result<Outcome, DrainError> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, open(target))
        .await
        .map_err(|_| DrainError::Timeout)??;
    let keep_alive = u16::try_from(target.keep_alive.as_secs()).unwrap_or(u16::MAX);
    let login = target
        .credentials
        .as_ref()
        .map(|(u, p)| (u.as_str(), p.expose()));
    stream
        .write_all(&connect_packet(&target.client_id, keep_alive, login))
        .await?;
    stream.flush().await?;
    let mut connack = [0u8; 4];
    tokio::time::timeout(CONNECT_TIMEOUT, stream.read_exact(&mut connack))
        .await
        .map_err(|_| DrainError::Timeout)??;
    if connack[..2] != [0x20, 0x02] {
        return Err(DrainError::NotConnAck(connack));
    }
    if connack[3] != 0 {
        return Err(DrainError::Refused(connack[3]));
    }
    let mut plan = Plan::new(limit);
    if connack[2] & 1 == 1 {
        skim(&mut stream, &mut plan, target.keep_alive).await?;
    }
    // DISCONNECT keeps the session; then wait for the broker to close, so that nothing unread
    // is left in our socket (closing on unread data would reset the connection).
    stream.write_all(&[0xe0, 0x00]).await?;
    stream.flush().await?;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(Outcome {
        taken: plan.taken,
        left_for_later: plan.left_for_later,
    })
}

async fn open(target: &Target) -> Result<Box<dyn Stream>, DrainError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
    tcp.set_nodelay(true)?;
    Ok(match &target.tls {
        Some(connector) => Box::new(connector.connect(&target.host, tcp).await?),
        None => Box::new(tcp),
    })
}

/// Reads what the broker resends until the plan stops or the broker goes quiet between packets.
/// Inside a packet the broker may pause up to one keep-alive; we send PINGREQ every half one.
async fn skim(
    stream: &mut Box<dyn Stream>,
    plan: &mut Plan,
    keep_alive: Duration,
) -> Result<(), DrainError> {
    let mut skimmer = Skimmer::default();
    let mut buf = vec![0u8; CHUNK];
    let mut events = Vec::new();
    let mut last_write = tokio::time::Instant::now();
    let mut last_read = tokio::time::Instant::now();
    let ping_every = keep_alive / 2;
    loop {
        let quiet_limit = if skimmer.between_packets() {
            IDLE
        } else {
            keep_alive
        };
        let wake = (last_read + quiet_limit).min(last_write + ping_every);
        let n = match tokio::time::timeout_at(wake, stream.read(&mut buf)).await {
            Ok(n) => n?,
            Err(_) => {
                let now = tokio::time::Instant::now();
                if now >= last_read + quiet_limit {
                    return if skimmer.between_packets() {
                        Ok(())
                    } else {
                        Err(DrainError::Timeout)
                    };
                }
                stream.write_all(&[0xc0, 0x00]).await?;
                stream.flush().await?;
                last_write = now;
                continue;
            }
        };
        if n == 0 {
            return Err(DrainError::Closed);
        }
        last_read = tokio::time::Instant::now();
        events.clear();
        skimmer.feed(&buf[..n], &mut events)?;
        for e in &events {
            match plan.on(*e) {
                Step::Continue => {}
                Step::Ack(pkid) => {
                    let [hi, lo] = pkid.to_be_bytes();
                    stream.write_all(&[0x40, 0x02, hi, lo]).await?;
                    stream.flush().await?;
                    last_write = tokio::time::Instant::now();
                }
                Step::Stop => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::skim::tests::{publish, skim_all};
    use super::*;

    fn run(plan: &mut Plan, bytes: &[u8]) -> Vec<Step> {
        let events = skim_all(bytes, 1000).expect("valid");
        let mut steps = Vec::new();
        for e in events {
            let s = plan.on(e);
            if s != Step::Continue {
                steps.push(s);
            }
            if s == Step::Stop {
                break;
            }
        }
        steps
    }

    #[test]
    fn oversize_messages_are_acked_after_their_last_byte_and_small_ones_are_left() {
        let mut stream = publish(1, 3, "t", b"small, resent first");
        stream.extend(publish(1, 4, "t", &[0; 100]));
        stream.extend(publish(1, 5, "t", &[0; 200]));
        stream.extend(publish(1, 6, "t", b"next"));
        stream.extend(publish(1, 7, "t", &[0; 300]));
        let mut plan = Plan::new(50);
        assert_eq!(
            run(&mut plan, &stream),
            vec![Step::Ack(4), Step::Ack(5), Step::Stop]
        );
        assert_eq!((plan.taken, plan.left_for_later), (2, 1));
    }

    #[test]
    fn an_oversize_qos0_message_is_counted_without_an_ack() {
        let mut stream = publish(0, 0, "t", &[0; 100]);
        stream.extend(publish(1, 1, "t", b"x"));
        let mut plan = Plan::new(50);
        assert_eq!(run(&mut plan, &stream), vec![Step::Stop]);
        assert_eq!(plan.taken, 1);
    }

    #[test]
    fn the_limit_itself_is_not_oversize() {
        let stream = publish(1, 1, "t", &[0; 10]); // remaining length 2 + 1 + 2 + 10
        let mut plan = Plan::new(15);
        assert_eq!(run(&mut plan, &stream), vec![]);
        assert_eq!((plan.taken, plan.left_for_later), (0, 1));
    }

    #[test]
    fn connect_packet_matches_the_spec_layout() {
        assert_eq!(
            connect_packet("id", 30, None),
            [
                &[0x10, 14, 0, 4][..],
                b"MQTT",
                &[4, 0x00, 0, 30, 0, 2],
                b"id"
            ]
            .concat()
        );
        assert_eq!(
            connect_packet("c", 5, Some(("u", "pw"))),
            [
                &[0x10, 20, 0, 4][..],
                b"MQTT",
                &[4, 0xc0, 0, 5, 0, 1],
                b"c",
                &[0, 1],
                b"u",
                &[0, 2],
                b"pw"
            ]
            .concat()
        );
        // rumqttc sends the username alone when the password is empty.
        assert_eq!(connect_packet("c", 5, Some(("u", "")))[9], 0x80);
        // A body of 128 bytes or more needs two length bytes.
        let long = connect_packet(&"i".repeat(200), 5, None);
        assert_eq!(&long[..3], &[0x10, 0x80 | (212 % 128) as u8, 1]);
    }

    // The broker side of `skim` over an in-memory pipe: the stall and the silence below are
    // timings a real broker does not produce on demand.
    async fn skim_against(
        broker_sends: &[u8],
        keep_alive: Duration,
        limit: usize,
    ) -> (Result<(), DrainError>, Plan, Vec<u8>, Duration) {
        let (ours, mut broker) = tokio::io::duplex(1 << 20);
        broker.write_all(broker_sends).await.expect("pipe");
        let mut stream: Box<dyn Stream> = Box::new(ours);
        let mut plan = Plan::new(limit);
        let start = std::time::Instant::now();
        let r = skim(&mut stream, &mut plan, keep_alive).await;
        let took = start.elapsed();
        drop(stream);
        let mut written = Vec::new();
        broker.read_to_end(&mut written).await.expect("pipe");
        (r, plan, written, took)
    }

    #[tokio::test]
    async fn an_oversize_message_is_acked_and_the_drain_ends_when_the_broker_goes_quiet() {
        let (r, plan, written, took) =
            skim_against(&publish(1, 9, "t", &[0; 300]), Duration::from_secs(30), 100).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(plan.taken, 1);
        assert_eq!(written, [0x40, 0x02, 0x00, 0x09], "one PUBACK, no ping");
        assert!(took >= IDLE && took < IDLE * 3, "{took:?}");
    }

    #[tokio::test]
    async fn a_broker_stalling_inside_a_message_gets_pings_then_the_drain_gives_up() {
        let message = publish(1, 9, "t", &[0; 300]);
        let keep_alive = Duration::from_millis(400);
        let (r, plan, written, took) = skim_against(&message[..50], keep_alive, 100).await;
        assert!(matches!(r, Err(DrainError::Timeout)), "{r:?}");
        assert_eq!(plan.taken, 1, "seen, not acknowledged");
        // A PINGREQ every half keep-alive (one, or two when the first read came late on a busy
        // machine), and no PUBACK.
        assert!(
            !written.is_empty() && written.chunks(2).all(|c| c == [0xc0, 0x00]),
            "PINGREQs only: {written:?}"
        );
        assert!(took >= keep_alive && took < keep_alive * 3, "{took:?}");
    }

    #[tokio::test]
    async fn a_closed_connection_mid_drain_is_an_error() {
        let (ours, broker) = tokio::io::duplex(1024);
        drop(broker);
        let mut stream: Box<dyn Stream> = Box::new(ours);
        let r = skim(&mut stream, &mut Plan::new(10), Duration::from_secs(30)).await;
        assert!(matches!(r, Err(DrainError::Closed)), "{r:?}");
    }
}
