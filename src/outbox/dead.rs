//! Dead letters: records Kafka will never take (larger than the broker or the producer
//! accepts, refused as invalid). Retrying them would block their class for ever, so the
//! forwarder moves each one here ([`Outbox::dead_letter`]): out of the stream, kept under its
//! sequence number, counted (`outbox_dead_letters` in the status) and shown by
//! `forewarn outbox dump --class dead`. The records behind it, of its key too, go on: a dead
//! record is a gap in its key's stream, not a stop. `forewarn outbox resend-dead` puts them
//! back in their classes ([`Outbox::resend_dead`]) once the cause is fixed (say a larger
//! `message.max.bytes`); they are then sent after the newer records of their key, and their
//! `seq` tells a consumer they are older.

use super::{idx, Outbox, OutboxError, ENTRY_OVERHEAD};
use crate::record::Class;

pub const DEAD_DB: &str = "dead";

fn class_byte(c: Class) -> u8 {
    idx(c) as u8
}

fn class_of(b: u8) -> Option<Class> {
    Class::ALL.into_iter().find(|c| class_byte(*c) == b)
}

impl Outbox {
    /// Move the record `seq` of `class` to the dead letters; `false` if it is not there.
    pub fn dead_letter(&self, class: Class, seq: u64, reason: &str) -> Result<bool, OutboxError> {
        let mut guard = self.lock()?;
        let mut c = *guard;
        let mut wtxn = self.env.write_txn()?;
        let db = self.data[idx(class)];
        let Some(v) = db.get(&wtxn, &seq)?.map(<[u8]>::to_vec) else {
            return Ok(false);
        };
        let mut kept = Vec::with_capacity(v.len() + 1);
        kept.push(class_byte(class));
        kept.extend_from_slice(&v);
        self.dead.put(&mut wtxn, &seq, &kept)?;
        db.delete(&mut wtxn, &seq)?;
        let cc = &mut c.classes[idx(class)];
        cc.count = cc.count.saturating_sub(1);
        cc.bytes = cc.bytes.saturating_sub(v.len() as u64 + ENTRY_OVERHEAD);
        c.dead += 1;
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        drop(guard);
        self.publish(c);
        tracing::error!(
            class = class.name(),
            seq,
            reason,
            "Kafka will never take this record; moved to the dead letters (forewarn outbox dump --class dead)."
        );
        Ok(true)
    }

    /// Put every dead letter back in its class under its sequence number, within the budget.
    /// Returns how many went back.
    pub fn resend_dead(&self) -> Result<u64, OutboxError> {
        let mut guard = self.lock()?;
        let mut c = *guard;
        let mut wtxn = self.env.write_txn()?;
        let mut entries = Vec::new();
        for item in self.dead.iter(&wtxn)? {
            let (seq, v) = item?;
            entries.push((seq, v.to_vec()));
        }
        let mut back = 0;
        for (seq, v) in entries {
            self.dead.delete(&mut wtxn, &seq)?;
            c.dead = c.dead.saturating_sub(1);
            let Some((&b, value)) = v.split_first() else {
                continue;
            };
            let Some(class) = class_of(b) else {
                continue;
            };
            self.put_back(&mut wtxn, &mut c, class, seq, value)?;
            back += 1;
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        drop(guard);
        self.publish(c);
        Ok(back)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Durability;
    use crate::outbox::tests::{alert_record, telemetry_record};
    use crate::outbox::Outbox;
    use crate::record::Class;

    fn telemetry_seqs(o: &Outbox) -> Vec<u64> {
        let batch = o.read_after(Class::Telemetry, 0, 10).unwrap();
        batch.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_dead_letter_leaves_its_class_is_counted_and_goes_back_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(dir.path(), 1 << 20, Durability::Full).unwrap();
        let seqs = o
            .append(&[telemetry_record(1), alert_record(2), telemetry_record(3)])
            .unwrap();
        assert!(o.dead_letter(Class::Telemetry, seqs[0], "test").unwrap());
        assert!(!o.dead_letter(Class::Telemetry, seqs[0], "again").unwrap());
        let c = o.counters();
        assert_eq!((c.dead, c.class(Class::Telemetry).count), (1, 1));
        assert_eq!(telemetry_seqs(&o), [seqs[2]]);
        drop(o);
        // Counted across a reopen, and shown by dump.
        let o = Outbox::open(dir.path(), 1 << 20, Durability::Full).unwrap();
        assert_eq!(o.counters().dead, 1);
        drop(o);
        let mut out = Vec::new();
        crate::outbox::inspect::dump(
            dir.path(),
            &[crate::outbox::inspect::DumpWhat::Dead],
            0,
            usize::MAX,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"class\":\"dead/telemetry\""), "{text}");
        assert!(text.contains(&format!("\"seq\":{}", seqs[0])), "{text}");

        let o = Outbox::open(dir.path(), 1 << 20, Durability::Full).unwrap();
        assert_eq!(o.resend_dead().unwrap(), 1);
        let c = o.counters();
        assert_eq!((c.dead, c.class(Class::Telemetry).count), (0, 2));
        assert_eq!(telemetry_seqs(&o), [seqs[0], seqs[2]]);
    }
}
