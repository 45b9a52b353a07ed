//! Writing: append (group of records, one transaction), eviction within the budget,
//! growing the map on `MDB_MAP_FULL`, and the fsync for `batched` durability.

use heed::RwTxn;

use super::{codec, idx, Counters, Outbox, OutboxError, ENTRY_OVERHEAD, FORMAT_V1};
use crate::record::{Class, Record};

/// A record ready to append: its class, its stored value, and the `baselines` key it is also
/// kept under (a baseline record).
type Encoded = (Class, Vec<u8>, Option<String>);

/// The LMDB map is full (and cannot grow) or the filesystem is (`ENOSPC`): room comes from
/// evicting.
fn out_of_room(e: &OutboxError) -> bool {
    const ENOSPC: i32 = 28;
    match e {
        OutboxError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)) => true,
        OutboxError::Lmdb(heed::Error::Mdb(heed::MdbError::Other(code))) => *code == ENOSPC,
        OutboxError::Lmdb(heed::Error::Io(io)) => io.raw_os_error() == Some(ENOSPC),
        _ => false,
    }
}

/// Eviction order: telemetry, then status, then alerts; a class whose topic refuses the agent
/// ([`Outbox::set_refused`]) comes before all of them.
const EVICTION_ORDER: [Class; 3] = [Class::Telemetry, Class::Status, Class::Alert];

impl Outbox {
    /// Append records in one transaction; returns their sequence numbers once committed. A
    /// baseline record is also stored as its detector's and asset's latest ([`super::baselines`]).
    pub fn append(&self, records: &[Record]) -> Result<Vec<u64>, OutboxError> {
        self.append_with(records, &[])
    }

    /// [`Outbox::append`], with stages' checkpoints (their state after the records, by key:
    /// [`super::PROCESSING_STATE`], [`super::MODELS_STATE`]) stored in the same transaction, so
    /// that what was sent and the state that follows it are committed together or not at all.
    /// A checkpoint replaces the previous one of its key; it is bounded by the provisioning
    /// file (a few hundred bytes per signal and rule) and not counted in the budget.
    pub fn append_with(
        &self,
        records: &[Record],
        checkpoints: &[(&str, &[u8])],
    ) -> Result<Vec<u64>, OutboxError> {
        if records.is_empty() && checkpoints.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = records
            .iter()
            .map(|r| self.encode(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut guard = self.lock()?;
        loop {
            match self.try_append(&guard, &encoded, checkpoints) {
                Ok((c, seqs)) => {
                    *guard = c;
                    self.publish(c);
                    return Ok(seqs);
                }
                Err(OutboxError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)))
                    if self.grow_map()? => {}
                Err(e) if out_of_room(&e) && guard.total_bytes() > 0 => {
                    // The map or the filesystem is full before the budget is (free pages held
                    // by a reader, a map smaller than the data needs, a disk shared with other
                    // files). Evict a tenth of the content, in eviction order, in its own
                    // transaction, so that its pages are free for the retry. Deleting needs
                    // pages too: if even that does not fit, evict less, down to one entry.
                    let total = guard.total_bytes();
                    let mut step = total.div_ceil(10);
                    let c = loop {
                        let mut c = *guard;
                        match self.evict_committed(&mut c, total.saturating_sub(step)) {
                            Ok(()) => break c,
                            Err(e) if out_of_room(&e) && step > 1 => step /= 2,
                            Err(e) => return Err(e),
                        }
                    };
                    tracing::warn!(
                        error = %e,
                        before = total,
                        after = c.total_bytes(),
                        "Outbox out of room before its budget; evicted more."
                    );
                    *guard = c;
                    self.publish(c);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Put back records of an outbox that was set aside, under their own sequence numbers
    /// (`forewarn outbox salvage`). Those numbers are all below this outbox's (it started above
    /// the set-aside one's reservation), so they neither collide with nor reorder anything
    /// numbered here, and a consumer drops any it already had by `(gateway, seq)`. A number
    /// already present is skipped, as is one at or above `next_seq` (not from a set-aside
    /// predecessor). The budget applies as for an append. Returns (restored, skipped).
    pub fn restore(&self, records: &[(u64, Record)]) -> Result<(u64, u64), OutboxError> {
        let encoded = records
            .iter()
            .map(|(seq, r)| Ok((*seq, self.encode(r)?)))
            .collect::<Result<Vec<_>, OutboxError>>()?;
        let mut guard = self.lock()?;
        let mut c = *guard;
        let mut wtxn = self.env.write_txn()?;
        let (mut restored, mut skipped) = (0, 0);
        for (seq, (class, v, _)) in &encoded {
            let db = self.data[idx(*class)];
            if *seq >= c.next_seq || db.get(&wtxn, seq)?.is_some() {
                skipped += 1;
                continue;
            }
            self.put_back(&mut wtxn, &mut c, *class, *seq, v)?;
            restored += 1;
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        drop(guard);
        self.publish(c);
        Ok((restored, skipped))
    }

    /// Store `value` under an old sequence number `seq` of `class`, within the budget (for
    /// records coming back: salvaged, or resent dead letters).
    pub(super) fn put_back(
        &self,
        wtxn: &mut RwTxn,
        c: &mut Counters,
        class: Class,
        seq: u64,
        value: &[u8],
    ) -> Result<(), OutboxError> {
        let size = value.len() as u64 + ENTRY_OVERHEAD;
        self.evict_for(wtxn, c, size, self.budget)?;
        self.data[idx(class)].put(wtxn, &seq, value)?;
        let cc = &mut c.classes[idx(class)];
        cc.count += 1;
        cc.bytes += size;
        Ok(())
    }

    /// Whether the outbox can ever take `record`: it encodes, and fits the budget. A record
    /// that fails here fails [`Outbox::append`] whatever the storage does.
    pub fn admits(&self, record: &Record) -> Result<(), OutboxError> {
        self.encode(record).map(|_| ())
    }

    fn encode(&self, r: &Record) -> Result<Encoded, OutboxError> {
        let mut v = Vec::with_capacity(256);
        v.push(FORMAT_V1);
        v.extend_from_slice(&codec::to_cbor(r)?);
        let size = v.len() as u64 + ENTRY_OVERHEAD;
        if size > self.budget {
            return Err(OutboxError::TooLarge(size));
        }
        // A baseline is also kept as its detector's and asset's latest ([`super::baselines`]).
        let keep = match r {
            Record::Baseline(b) => Some(b.key()),
            _ => None,
        };
        Ok((r.class(), v, keep))
    }

    /// Double the LMDB map (up to `max_map`); false if it is already that large. Called by the
    /// writer (holding the writer lock, its transaction aborted) with readers shut out.
    fn grow_map(&self) -> Result<bool, OutboxError> {
        let current = self.env.info().map_size;
        if current >= self.max_map {
            return Ok(false);
        }
        let page = self.env.unnamed_database_stat().page_size.max(4096) as usize;
        let new = current.saturating_mul(2).min(self.max_map).div_ceil(page) * page;
        let _gate = self.gate.write().map_err(|_| OutboxError::Poisoned)?;
        // SAFETY: no transaction is active in this process: writers hold the writer lock (we
        // do, and our transaction was aborted), readers are shut out by the gate.
        unsafe { self.env.resize(new)? };
        tracing::warn!(from = current, to = new, "Outbox map full; grew the map.");
        Ok(true)
    }

    /// Evict (in eviction order) until the content is at most `limit` bytes, and commit.
    fn evict_committed(&self, c: &mut Counters, limit: u64) -> Result<(), OutboxError> {
        let mut wtxn = self.env.write_txn()?;
        self.evict_for(&mut wtxn, c, 0, limit)?;
        self.write_counters(&mut wtxn, c)?;
        wtxn.commit()?;
        Ok(())
    }

    fn try_append(
        &self,
        committed: &Counters,
        encoded: &[Encoded],
        checkpoints: &[(&str, &[u8])],
    ) -> Result<(Counters, Vec<u64>), OutboxError> {
        let mut c = *committed;
        self.reservation_lock()?
            .cover(c.next_seq.saturating_add(encoded.len() as u64))?;
        let mut wtxn = self.env.write_txn()?;
        for (key, state) in checkpoints {
            self.state.put(&mut wtxn, key, state)?;
        }
        let mut seqs = Vec::with_capacity(encoded.len());
        for (class, v, keep) in encoded {
            if let Some(key) = keep {
                self.baseline_dbs.baselines.put(&mut wtxn, key, v)?;
            }
            let size = v.len() as u64 + ENTRY_OVERHEAD;
            self.evict_for(&mut wtxn, &mut c, size, self.budget)?;
            let seq = c.next_seq;
            c.next_seq += 1;
            self.data[idx(*class)].put(&mut wtxn, &seq, v)?;
            let cc = &mut c.classes[idx(*class)];
            cc.count += 1;
            cc.bytes += size;
            seqs.push(seq);
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        Ok((c, seqs))
    }

    /// Evict oldest entries (telemetry first) until `size` more bytes fit within `limit`.
    fn evict_for(
        &self,
        wtxn: &mut RwTxn,
        c: &mut Counters,
        size: u64,
        limit: u64,
    ) -> Result<(), OutboxError> {
        let refused = self.refused_classes();
        let order = EVICTION_ORDER
            .into_iter()
            .filter(|c| refused.contains(c))
            .chain(EVICTION_ORDER.into_iter().filter(|c| !refused.contains(c)));
        let order: Vec<Class> = order.collect();
        while c.total_bytes() + size > limit {
            let mut evicted = false;
            for &class in &order {
                let db = self.data[idx(class)];
                let first = db.first(wtxn)?.map(|(k, v)| (k, v.len() as u64));
                if let Some((seq, len)) = first {
                    db.delete(wtxn, &seq)?;
                    let cc = &mut c.classes[idx(class)];
                    cc.count = cc.count.saturating_sub(1);
                    cc.bytes = cc.bytes.saturating_sub(len + ENTRY_OVERHEAD);
                    cc.evicted += 1;
                    evicted = true;
                    break;
                }
            }
            if !evicted {
                break;
            }
        }
        Ok(())
    }

    /// The last committed checkpoint under `key` ([`super::PROCESSING_STATE`],
    /// [`super::MODELS_STATE`]), if any.
    pub fn checkpoint(&self, key: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        let _gate = self.gate.read().map_err(|_| OutboxError::Poisoned)?;
        let rtxn = self.env.read_txn()?;
        Ok(self.state.get(&rtxn, key)?.map(<[u8]>::to_vec))
    }

    /// Flush to disk (for `batched` durability).
    pub fn sync(&self) -> Result<(), OutboxError> {
        Ok(self.env.force_sync()?)
    }
}
