//! Reading for the forwarder and the status: read by cursor, acknowledge, quarantine
//! undecodable entries, per-class status, and decoding a stored value.

use super::{codec, idx, Entry, Outbox, OutboxError, ReadBatch, ENTRY_OVERHEAD, FORMAT_V1};
use crate::record::{Class, ClassStatus, Record};

impl Outbox {
    /// Read up to `limit` entries of a class with sequence numbers greater than `after`.
    pub fn read_after(
        &self,
        class: Class,
        after: u64,
        limit: usize,
    ) -> Result<ReadBatch, OutboxError> {
        let _gate = self.gate.read().map_err(|_| OutboxError::Poisoned)?;
        let rtxn = self.env.read_txn()?;
        let mut batch = ReadBatch::default();
        let start = after.saturating_add(1);
        for item in self.data[idx(class)].range(&rtxn, &(start..))?.take(limit) {
            let (seq, bytes) = item?;
            match decode(bytes) {
                Some(record) => batch.entries.push(Entry { seq, record }),
                None => batch.undecodable.push(seq),
            }
        }
        Ok(batch)
    }

    /// Delete acknowledged entries (already-evicted ones are skipped).
    pub fn ack(&self, class: Class, seqs: &[u64]) -> Result<(), OutboxError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut guard = self.lock()?;
        let mut c = *guard;
        let mut wtxn = self.env.write_txn()?;
        let db = self.data[idx(class)];
        for seq in seqs {
            let len = db.get(&wtxn, seq)?.map(|v| v.len() as u64);
            if let Some(len) = len {
                db.delete(&mut wtxn, seq)?;
                let cc = &mut c.classes[idx(class)];
                cc.count = cc.count.saturating_sub(1);
                cc.bytes = cc.bytes.saturating_sub(len + ENTRY_OVERHEAD);
            }
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        self.publish(c);
        Ok(())
    }

    /// Move undecodable entries aside so they neither block forwarding nor vanish unseen.
    pub fn quarantine(&self, class: Class, seqs: &[u64]) -> Result<(), OutboxError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut guard = self.lock()?;
        let mut c = *guard;
        let mut wtxn = self.env.write_txn()?;
        let db = self.data[idx(class)];
        for seq in seqs {
            let value = db.get(&wtxn, seq)?.map(<[u8]>::to_vec);
            if let Some(v) = value {
                self.quarantine.put(&mut wtxn, seq, &v)?;
                db.delete(&mut wtxn, seq)?;
                let cc = &mut c.classes[idx(class)];
                cc.count = cc.count.saturating_sub(1);
                cc.bytes = cc.bytes.saturating_sub(v.len() as u64 + ENTRY_OVERHEAD);
                c.quarantined += 1;
            }
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        self.publish(c);
        tracing::error!(
            class = class.name(),
            count = seqs.len(),
            "Undecodable outbox entries quarantined."
        );
        Ok(())
    }

    /// Per-class status, with the event time of each class's oldest record.
    pub fn class_status(&self, now_ns: i64) -> Vec<(Class, ClassStatus)> {
        let c = self.counters();
        let oldest = |class: Class| -> Option<f64> {
            let _gate = self.gate.read().ok()?;
            let rtxn = self.env.read_txn().ok()?;
            let (_, bytes) = self.data[idx(class)].first(&rtxn).ok()??;
            let ts = decode(bytes)?.ts_ns();
            Some((now_ns.saturating_sub(ts)) as f64 / 1e9)
        };
        Class::ALL
            .iter()
            .map(|&class| {
                let cc = c.class(class);
                let status = ClassStatus {
                    depth: cc.count,
                    bytes: cc.bytes,
                    oldest_age_secs: if cc.count > 0 { oldest(class) } else { None },
                    evicted: cc.evicted,
                };
                (class, status)
            })
            .collect()
    }
}

pub(super) fn decode(bytes: &[u8]) -> Option<Record> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => codec::from_cbor(body).ok(),
        _ => None,
    }
}
