//! An incremental MQTT 3.1.1 packet framer that keeps no payload.
//!
//! Fed the bytes a broker sends, in chunks of any size, a [`Skimmer`] reports each packet's
//! start (for a PUBLISH: QoS, packet id and remaining length) and its end, and skips everything
//! else: it holds a few bytes of state whatever a packet's size (up to the protocol's
//! 268,435,455 bytes of remaining length). The [`drain`](super::drain) uses it to get past
//! messages too large to read whole.

/// The start of a packet, as far as a drain needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A PUBLISH: QoS, packet id (QoS 1 and 2) and remaining length (everything after the
    /// fixed header).
    Publish {
        qos: u8,
        pkid: Option<u16>,
        len: usize,
    },
    /// Any other packet: its type (the fixed header's high nibble) and remaining length.
    Other { kind: u8, len: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skimmed {
    Head(Head),
    /// The last byte of the packet whose head came before.
    End,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SkimError {
    #[error("malformed remaining length in a packet from the broker")]
    RemainingLength,
    #[error("PUBLISH from the broker shorter than its topic and packet id")]
    ShortPublish,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Byte1,
    Len {
        byte1: u8,
        value: usize,
        shift: u32,
    },
    TopicLen {
        qos: u8,
        len: usize,
        left: usize,
        hi: Option<u8>,
    },
    Topic {
        qos: u8,
        len: usize,
        left: usize,
        skip: usize,
    },
    Pkid {
        qos: u8,
        len: usize,
        left: usize,
        hi: Option<u8>,
    },
    Body {
        left: usize,
    },
}

/// Incremental MQTT 3.1.1 packet framer that keeps no payload: O(1) memory per packet.
#[derive(Debug)]
pub struct Skimmer {
    state: State,
}

impl Default for Skimmer {
    fn default() -> Self {
        Skimmer {
            state: State::Byte1,
        }
    }
}

impl Skimmer {
    /// Between two packets (nothing of a packet read yet).
    pub fn between_packets(&self) -> bool {
        matches!(self.state, State::Byte1)
    }

    /// Feeds bytes from the broker; heads and ends found are appended to `out` in order.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Skimmed>) -> Result<(), SkimError> {
        while let Some((&b, rest)) = bytes.split_first() {
            match self.state {
                State::Byte1 => {
                    self.state = State::Len {
                        byte1: b,
                        value: 0,
                        shift: 0,
                    };
                    bytes = rest;
                }
                State::Len {
                    byte1,
                    value,
                    shift,
                } => {
                    bytes = rest;
                    let value = value | (usize::from(b & 0x7f) << shift);
                    if b & 0x80 != 0 {
                        if shift >= 21 {
                            return Err(SkimError::RemainingLength);
                        }
                        self.state = State::Len {
                            byte1,
                            value,
                            shift: shift + 7,
                        };
                        continue;
                    }
                    let kind = byte1 >> 4;
                    if kind == 3 {
                        let qos = (byte1 >> 1) & 3;
                        if value < 2 + if qos > 0 { 2 } else { 0 } {
                            return Err(SkimError::ShortPublish);
                        }
                        self.state = State::TopicLen {
                            qos,
                            len: value,
                            left: value,
                            hi: None,
                        };
                    } else {
                        out.push(Skimmed::Head(Head::Other { kind, len: value }));
                        self.body(value, out);
                    }
                }
                State::TopicLen { qos, len, left, hi } => {
                    bytes = rest;
                    let Some(hi) = hi else {
                        self.state = State::TopicLen {
                            qos,
                            len,
                            left: left - 1,
                            hi: Some(b),
                        };
                        continue;
                    };
                    let topic = usize::from(u16::from_be_bytes([hi, b]));
                    let left = left - 1;
                    let needed = topic + if qos > 0 { 2 } else { 0 };
                    if needed > left {
                        return Err(SkimError::ShortPublish);
                    }
                    self.state = State::Topic {
                        qos,
                        len,
                        left,
                        skip: topic,
                    };
                    self.after_topic(out);
                }
                State::Topic {
                    qos,
                    len,
                    left,
                    skip,
                } => {
                    let n = skip.min(bytes.len());
                    bytes = &bytes[n..];
                    self.state = State::Topic {
                        qos,
                        len,
                        left: left - n,
                        skip: skip - n,
                    };
                    self.after_topic(out);
                }
                State::Pkid { qos, len, left, hi } => {
                    bytes = rest;
                    let Some(hi) = hi else {
                        self.state = State::Pkid {
                            qos,
                            len,
                            left: left - 1,
                            hi: Some(b),
                        };
                        continue;
                    };
                    let pkid = u16::from_be_bytes([hi, b]);
                    out.push(Skimmed::Head(Head::Publish {
                        qos,
                        pkid: Some(pkid),
                        len,
                    }));
                    self.body(left - 1, out);
                }
                State::Body { left } => {
                    let n = left.min(bytes.len());
                    bytes = &bytes[n..];
                    self.body(left - n, out);
                }
            }
        }
        Ok(())
    }

    fn after_topic(&mut self, out: &mut Vec<Skimmed>) {
        if let State::Topic {
            qos,
            len,
            left,
            skip: 0,
        } = self.state
        {
            if qos > 0 {
                self.state = State::Pkid {
                    qos,
                    len,
                    left,
                    hi: None,
                };
            } else {
                out.push(Skimmed::Head(Head::Publish {
                    qos,
                    pkid: None,
                    len,
                }));
                self.body(left, out);
            }
        }
    }

    fn body(&mut self, left: usize, out: &mut Vec<Skimmed>) {
        if left == 0 {
            out.push(Skimmed::End);
            self.state = State::Byte1;
        } else {
            self.state = State::Body { left };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn publish(qos: u8, pkid: u16, topic: &str, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&pkid.to_be_bytes());
        }
        body.extend_from_slice(payload);
        let mut p = vec![0x30 | (qos << 1)];
        let mut n = body.len();
        loop {
            let b = (n % 128) as u8;
            n /= 128;
            p.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        p.extend_from_slice(&body);
        p
    }

    pub(crate) fn skim_all(bytes: &[u8], chunk: usize) -> Result<Vec<Skimmed>, SkimError> {
        let mut s = Skimmer::default();
        let mut out = Vec::new();
        for c in bytes.chunks(chunk) {
            s.feed(c, &mut out)?;
        }
        assert!(s.between_packets());
        Ok(out)
    }

    #[test]
    fn packets_are_framed_whatever_the_chunking() {
        let mut stream = publish(1, 7, "plant/pump-1", &vec![b'x'; 200_000]);
        stream.extend_from_slice(&[0xd0, 0x00]); // PINGRESP
        stream.extend(publish(0, 0, "a", b"12"));
        stream.extend(publish(1, 65535, "", b""));
        let expected = vec![
            Skimmed::Head(Head::Publish {
                qos: 1,
                pkid: Some(7),
                len: 2 + 12 + 2 + 200_000,
            }),
            Skimmed::End,
            Skimmed::Head(Head::Other { kind: 13, len: 0 }),
            Skimmed::End,
            Skimmed::Head(Head::Publish {
                qos: 0,
                pkid: None,
                len: 5,
            }),
            Skimmed::End,
            Skimmed::Head(Head::Publish {
                qos: 1,
                pkid: Some(65535),
                len: 4,
            }),
            Skimmed::End,
        ];
        for chunk in [1, 2, 3, 7, 4096, 16 * 1024, stream.len()] {
            assert_eq!(
                skim_all(&stream, chunk),
                Ok(expected.clone()),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn the_largest_remaining_length_is_read_and_a_fifth_length_byte_is_refused() {
        let mut s = Skimmer::default();
        let mut out = Vec::new();
        s.feed(
            &[0x32, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, b't', 0x00, 0x09],
            &mut out,
        )
        .expect("valid header");
        assert_eq!(
            out,
            vec![Skimmed::Head(Head::Publish {
                qos: 1,
                pkid: Some(9),
                len: 268_435_455,
            })]
        );
        assert!(!s.between_packets());
        let mut s = Skimmer::default();
        assert_eq!(
            s.feed(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], &mut out),
            Err(SkimError::RemainingLength)
        );
    }

    #[test]
    fn a_publish_shorter_than_its_topic_is_refused() {
        // remaining length 4, topic length 10
        assert_eq!(
            skim_all(&[0x32, 0x04, 0x00, 0x0a, 0x00, 0x01], 1),
            Err(SkimError::ShortPublish)
        );
        assert_eq!(
            skim_all(&[0x32, 0x02, 0x00, 0x00], 1),
            Err(SkimError::ShortPublish)
        );
    }
}
